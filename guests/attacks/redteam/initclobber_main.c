/* A frame the monitor builds goes below every live frame on its stack, also when it calls back a compartment
 * whose code an on-demand initialiser interrupted. */
#include <stdio.h>

#include "redteam.h"

int main(void)
{
    printf("vic_work returned %ld to the starter, plug_run %ld\n", start_got(), plug_run());
    printf("vic_work's canaries corrupted: %ld\n", vic_corrupted());
    return 0;
}
