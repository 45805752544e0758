/* Driver for guests/rt/stdio.c and start.c (renamed rt_*): runs the scenario named by argv[1]. host_sys.c
 * logs each WRITE and the EXIT; "mark <n>" lines between calls show when output reached the monitor. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "twz_startup.h"

typedef struct twz_file RT_FILE;
extern RT_FILE *rt_stdout, *rt_stderr;
int rt_printf(const char *fmt, ...);
int rt_fprintf(RT_FILE *f, const char *fmt, ...);
int rt_fputc(int c, RT_FILE *f);
int rt_putchar(int c);
int rt_fputs(const char *s, RT_FILE *f);
int rt_puts(const char *s);
size_t rt_fwrite(const void *p, size_t size, size_t count, RT_FILE *f);
int rt_fflush(RT_FILE *f);
int rt_atexit(void (*fn)(void));
char *rt_getenv(const char *name);
void rt_exit(int status) __attribute__((noreturn));
void rt__Exit(int status) __attribute__((noreturn));
void rt_abort(void) __attribute__((noreturn));
void __twz_start(struct twz_startup *startup, int (*main)(int, char **, char **)) __attribute__((noreturn));

static int marks;

static void mark(void)
{
    printf("mark %d\n", ++marks);
}

static void buffering(void)
{
    static char big[3000];

    rt_printf("a");
    mark();
    rt_printf("b%d\n", 1);
    mark();
    rt_fputs("err", rt_stderr);
    rt_fprintf(rt_stderr, "%s!", "or");
    mark();
    rt_puts("line");
    rt_putchar('x');
    mark();
    rt_fflush(NULL);
    mark();
    memset(big, 'z', sizeof big);
    printf("fwrite %zu\n", rt_fwrite(big, 1, sizeof big, rt_stdout));
    mark();
    rt_exit(3);
}

static void partial(void)
{
    host_write_limit = 7;
    printf("printf %d\n", rt_printf("%s\n", "abcdefghijklmnopqrst"));
    rt_exit(0);
}

static void failing(void)
{
    host_write_fails = 1;
    printf("printf %d\n", rt_printf("x\n"));
    printf("fputc %d\n", rt_fputc('y', rt_stderr));
    printf("fflush %d\n", rt_fflush(NULL));
    host_write_fails = 0;
    printf("printf %d\n", rt_printf("z\n"));
    rt_exit(0);
}

static void init0(int argc, char **argv, char **envp)
{
    rt_printf("init0 %d %s %s\n", argc, argv[1], envp[0]);
}

static void init1(int argc, char **argv, char **envp)
{
    rt_printf("init1\n");
}

static void fini0(void)
{
    rt_printf("fini0\n");
}

static void fini1(void)
{
    rt_printf("fini1 ");
}

static void handler1(void)
{
    rt_printf("atexit1\n");
}

static void handler2(void)
{
    rt_printf("atexit2\n");
}

static void exits_again(void)
{
    rt_printf("exit again\n");
    rt_exit(9);
}

static int nested;

static int program(int argc, char **argv, char **envp)
{
    rt_printf("main %d %s %s\n", argc, argv[0], envp[1]);
    rt_printf("getenv %s %s %s\n", rt_getenv("HOME"), rt_getenv("A"), rt_getenv("HOM") ? "?" : "none");
    rt_atexit(handler1);
    rt_atexit(nested ? exits_again : handler2);
    return 7;
}

static void lifecycle(void)
{
    static char *argv[] = { "prog", "arg", NULL }, *envp[] = { "A=1", "HOME=/h", NULL };
    static twz_init_fn init[] = { init0, init1 };
    static twz_fini_fn fini[] = { fini0, fini1 };
    static struct twz_startup startup = { 2, argv, envp, 2, init, 2, fini, 1 };

    __twz_start(&startup, program);
}

static void atexit_limit(void)
{
    int failures = 0, registered = 0;

    for (int i = 0; i < 40; i++) {
        if (rt_atexit(handler1) == 0)
            registered++;
        else
            failures++;
    }
    printf("registered %d failed %d\n", registered, failures);
    rt__Exit(0);
}

static void aborting(void)
{
    rt_printf("pending");
    rt_abort();
}

static void exiting_now(void)
{
    rt_printf("pending");
    rt__Exit(5);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } scenarios[] = {
        { "buffering", buffering }, { "partial", partial }, { "failing", failing }, { "lifecycle", lifecycle },
        { "atexit_limit", atexit_limit }, { "abort", aborting }, { "_Exit", exiting_now },
    };

    nested = argc > 2;
    for (size_t i = 0; argc > 1 && i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            scenarios[i].run();
    printf("FAIL no scenario %s\n", argc > 1 ? argv[1] : "");
    return 1;
}
