/* Ordinary C against the guest C library (musl): each argument names a check, whose output the tests compare
 * with what the C standard and POSIX say (tests/test_clib.py). */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long atexit_lib_register(long value);
long atexit_lib_open_owned(void);

static int by_value(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int check_stdlib(void)
{
    char *end;
    printf("strtol %ld %ld\n", strtol("-0x1f", &end, 16), strtol("777", 0, 8));
    printf("strtod %.17g %g\n", strtod("2.5e-3", 0), strtod("-inf", 0));
    printf("atoi %d atol %ld\n", atoi("  42x"), atol("-9000000000"));
    int values[] = {5, 3, 9, 1, 7};
    qsort(values, 5, sizeof *values, by_value);
    int key = 7;
    int *found = bsearch(&key, values, 5, sizeof *values, by_value);
    printf("qsort %d %d %d %d %d bsearch %td\n", values[0], values[1], values[2], values[3], values[4],
           found - values);
    printf("getenv %s %s\n", getenv("CLIB_VAR") ? getenv("CLIB_VAR") : "(unset)", getenv("NOPE") ? "?" : "null");
    srand(7);
    int first = rand();
    srand(7);
    printf("rand repeats %d\n", first == rand());
    return 0;
}

static int check_string(void)
{
    char buffer[32] = "hello";
    strcat(buffer, ", world");
    printf("%s %zu %d %s %s\n", buffer, strlen(buffer), strcmp("a", "b") < 0, strstr(buffer, "wor"),
           strchr(buffer, ',') + 2);
    printf("ctype %d %d %d %c %c\n", isdigit('7') != 0, isalpha('7') != 0, isspace('\t') != 0, toupper('q'),
           tolower('Q'));
    return 0;
}

static int check_math(void)
{
    printf("math %.6f %.6f %.6f %.1f %ld\n", sqrt(2.0), sin(1.0), exp(1.0), pow(2.0, 10.0), lround(2.5));
    return 0;
}

static jmp_buf jump;

static void deep(int n);
static void (*volatile descend)(int) = deep; /* through a pointer: gcc cannot see that longjmp ends it */

static void deep(int n)
{
    if (n <= 0)
        longjmp(jump, 42);
    descend(n - 1);
}

static int check_jump(void)
{
    int value = setjmp(jump);
    if (value == 0)
        deep(10);
    printf("longjmp %d\n", value);
    return 0;
}

static int check_errno(void)
{
    errno = 0;
    strtol("99999999999999999999999", 0, 10);
    printf("errno ERANGE %d\n", errno == ERANGE);
    FILE *f = fopen("/no/such/dir/file", "r");
    printf("fopen %s errno %s\n", f ? "opened" : "null", strerror(errno));
    return 0;
}

static int check_time(void)
{
    time_t now = time(0);
    struct timespec real, mono;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_t used = clock();
    printf("time %lld %lld %d %d\n", (long long)now, (long long)real.tv_sec, mono.tv_sec >= 0, used >= 0);
    return 0;
}

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    caught = sig;
}

static int check_signal(const char *what)
{
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    printf("handler got %d\n", (int)caught);
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("ignored\n");
    fflush(stdout);
    if (!strcmp(what, "abort"))
        abort();
    if (!strcmp(what, "assert"))
        assert(1 + 1 == 3);
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}

static void at_exit_program(void)
{
    printf("program atexit\n");
}

static int check_atexit(void)
{
    atexit(at_exit_program);
    printf("library registered: %ld\n", atexit_lib_register(7));
    return 0;
}

static int check_stdin(void)
{
    char line[64];
    int lines = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        printf("read [%s]\n", line);
        lines++;
    }
    printf("%d lines, eof %d\n", lines, feof(stdin) != 0);
    fprintf(stderr, "to stderr\n");
    return 0;
}

static int check_unknown(void)
{
    long result = syscall(999, 1, 2, 3);
    printf("syscall 999: %ld %s\n", result, strerror(errno));
    result = syscall(999);
    printf("again: %ld\n", result);
    return 0;
}

/* read() into memory the program's compartment maps but may not write (its own code) or does not map at all
 * (an isolated library's data): EFAULT, nothing written. */
static int check_efault(void)
{
    ssize_t into_code = read(0, (void *)check_efault, 8);
    printf("read into code: %zd %s\n", into_code, strerror(errno));
    ssize_t into_other = read(0, (void *)(unsigned long)strtoul(getenv("CLIB_OTHER"), 0, 0), 8);
    printf("read into another compartment: %zd %s\n", into_other, strerror(errno));
    struct timespec *bad = (struct timespec *)check_efault;
    printf("clock_gettime into code: %d %s\n", clock_gettime(CLOCK_REALTIME, bad), strerror(errno));
    return 0;
}

/* Files: write, read back, seek, tell, append; the bytes seen by the next run too when the store keeps them. */
static int check_files(const char *name)
{
    FILE *f = fopen(name, "r");
    if (f) {
        char line[64] = "";
        fgets(line, sizeof line, f);
        printf("before: %s", line);
        fclose(f);
    }
    f = fopen(name, "w");
    if (!f) {
        printf("fopen w: %s\n", strerror(errno));
        return 1;
    }
    fprintf(f, "first line\nsecond line\n");
    fclose(f);
    f = fopen(name, "a");
    fputs("appended\n", f);
    fclose(f);
    f = fopen(name, "r");
    char line[64];
    while (fgets(line, sizeof line, f))
        printf("read: %s", line);
    fseek(f, 6, SEEK_SET);
    long at = ftell(f);
    printf("at %ld: %c\n", at, fgetc(f));
    fseek(f, 0, SEEK_END);
    printf("size %ld\n", ftell(f));
    fclose(f);
    char buffer[256];
    printf("cwd %s\n", getcwd(buffer, sizeof buffer));
    return 0;
}

static int check_read_file(const char *name)
{
    FILE *f = fopen(name, "r");
    if (!f) {
        printf("fopen r %s: %s\n", name, strerror(errno));
        return 1;
    }
    char buffer[256];
    size_t n = fread(buffer, 1, sizeof buffer - 1, f);
    buffer[n] = 0;
    printf("%s: %zu bytes: %s", name, n, buffer);
    fclose(f);
    return 0;
}

static int check_rename(const char *name)
{
    FILE *f = fopen(name, "w");
    fputs("moved\n", f);
    fclose(f);
    printf("rename %d\n", rename(name, "renamed.txt"));
    printf("old name: %s\n", fopen(name, "r") ? "still there" : strerror(errno));
    return check_read_file("renamed.txt");
}

static int check_write_file(const char *name)
{
    FILE *f = fopen(name, "w");
    if (!f) {
        printf("fopen w %s: %s\n", name, strerror(errno));
        return 1;
    }
    fputs("written by the guest\n", f);
    printf("fclose %d\n", fclose(f));
    return 0;
}

/* A file belongs to the compartment that created it: the isolated library may not open the program's. */
static int check_owner(void)
{
    FILE *f = fopen("owned.txt", "w");
    fputs("mine\n", f);
    fclose(f);
    long error = atexit_lib_open_owned();
    printf("library opens the program's file: %s\n", error ? strerror((int)error) : "opened");
    f = fopen("owned.txt", "r");
    printf("program opens it: %s\n", f ? "opened" : strerror(errno));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (!strcmp(what, "stdlib"))
        return check_stdlib();
    if (!strcmp(what, "string"))
        return check_string();
    if (!strcmp(what, "math"))
        return check_math();
    if (!strcmp(what, "jump"))
        return check_jump();
    if (!strcmp(what, "errno"))
        return check_errno();
    if (!strcmp(what, "time"))
        return check_time();
    if (!strcmp(what, "term") || !strcmp(what, "abort") || !strcmp(what, "assert"))
        return check_signal(what);
    if (!strcmp(what, "atexit"))
        return check_atexit();
    if (!strcmp(what, "stdin"))
        return check_stdin();
    if (!strcmp(what, "unknown"))
        return check_unknown();
    if (!strcmp(what, "efault"))
        return check_efault();
    if (!strcmp(what, "owner"))
        return check_owner();
    if (!strcmp(what, "files") && argc > 2)
        return check_files(argv[2]);
    if (!strcmp(what, "cat") && argc > 2)
        return check_read_file(argv[2]);
    if (!strcmp(what, "rename") && argc > 2)
        return check_rename(argv[2]);
    if (!strcmp(what, "create") && argc > 2)
        return check_write_file(argv[2]);
    return 2;
}
