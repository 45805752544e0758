/* msglost: a message written after an on-demand initialiser called its writer back still crosses. */
#include <stdio.h>

#include "redteam.h"

int main(void)
{
    long got = msgv_got();
    printf("libgrmsgp received: %.7s (starter %ld, run %ld)\n", got ? (const char *)&got : "nothing", msgs_ok(),
           msgp_run());
    return 0;
}
