/* Bound to libgr2c's level-none gate and to a level-full one: granted nothing; the read kills the program. */
#include <stdio.h>
#include "redteam2.h"

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 5)
        c_full_read(0); /* never runs: only the binding matters */
    printf("libgr2c's word: %#lx\n", *(volatile long *)c_secret_address());
    return 0;
}
