/* The multi-library demo: three shared libraries, cross-library function pointers and globals, __thread in a
 * library, constructors and destructors in dependency order, malloc across calls, and argv. */
#include <stdio.h>
#include <stdlib.h>

extern int color_count;
int color_calls_so_far(void);
typedef const char *(*namer_fn)(int);
namer_fn shape_namer(void);
void store_add(const char *label, int sides);
void store_dump(void);

static void goodbye(void) { puts("atexit handler"); }

__attribute__((constructor)) static void demo_init(void) { puts("init demo"); }
__attribute__((destructor)) static void demo_fini(void) { puts("fini demo"); }

int main(int argc, char **argv)
{
    atexit(goodbye);
    printf("main: argc=%d argv[0]=%s\n", argc, argv[0]);
    for (int i = 1; i < argc; i++)
        store_add(argv[i], i + 2);
    store_dump();
    namer_fn namer = shape_namer();
    printf("function pointer from libshape: %s\n", namer(1));
    printf("color_count=%d color_calls=%d\n", color_count, color_calls_so_far());
    return argc - 1;
}
