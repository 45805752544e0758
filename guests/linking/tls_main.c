/* __thread in a program (initial-exec or local-dynamic from -fPIC code) and in a library (general-dynamic). */
#include <stdio.h>

extern __thread int lib_counter;
int lib_bump(void);
__thread int prog_counter = 40;
static __thread char prog_tag[8] = "tls";

int main(void)
{
    prog_counter += 2;
    lib_bump();
    lib_bump();
    lib_counter += 10;
    printf("prog_counter=%d lib_counter=%d tag=%s\n", prog_counter, lib_counter, prog_tag);
    return 0;
}
