/* Exits with a status of its own: `twzemu run` must exit with it. */
#include "twz_rt.h"

int main(void)
{
    twz_puts("exiting with 42\n");
    return 42;
}
