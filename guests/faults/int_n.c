/* int_n N [COUNT]: runs `int $N` (N: 0..255, decimal or 0x hex; `int3` for the one-byte breakpoint) COUNT times
 * (default 1). At CPL3 every `int n` but int3, `int $3` and `int $4` is a general-protection fault: the first one
 * stops the program. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traps.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long n = strcmp(argv[1], "int3") == 0 ? TRAP_INT3 : strtol(argv[1], 0, 0);
    long count = argc > 2 ? strtol(argv[2], 0, 0) : 1;
    if (n < 0 || n > TRAP_INT3)
        return 2;
    for (long i = 0; i < count; i++)
        trap(n);
    printf("not reached: %ld traps returned\n", count);
    return 0;
}
