/* Writes into its own text, which is mapped R-X: a security violation. */
#include "twz_rt.h"

int main(void)
{
    volatile unsigned char *code = (volatile unsigned char *)&main;
    *code = 0xc3;
    twz_puts("not reached\n");
    return 0;
}
