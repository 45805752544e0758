/* libcolor: the bottom library. Exports a global other libraries update through their GOT, a function
 * other libraries hand out as a pointer, and a per-thread call counter. */
#include <stdio.h>

int color_count;                 /* updated by libshape and read by the program */
__thread int color_calls;        /* general-dynamic TLS from -fPIC code: __tls_get_addr */
static const char *names[] = {"red", "green", "blue"};

const char *color_name(int index)
{
    color_calls++;
    return names[index % 3];
}

int color_calls_so_far(void)
{
    return color_calls;
}

__attribute__((constructor)) static void color_init(void) { puts("init libcolor"); }
__attribute__((destructor)) static void color_fini(void) { puts("fini libcolor"); }
