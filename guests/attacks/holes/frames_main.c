/* Hole 5: a frame the monitor builds is always below every live frame on its stack. The program calls
 * libgframey at level none (y runs on the program's stack, below the program's frame); y calls libgframez
 * (full), which calls the program's own gate back: the program's new frame must go below y's frames. */
#include <stdio.h>
#include "holes.h"

long x_fill(long value)
{
    volatile long area[96];
    for (int i = 0; i < 96; i++)
        area[i] = value;
    return area[0] + area[95];
}
TWZ_GATE(x_fill);

int main(void)
{
    printf("y's canaries corrupted: %ld\n", gframey_work((long)x_fill));
    return 0;
}
