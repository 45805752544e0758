/* refused: the program writes a password for libgrbroken into its gate buffer and calls libgrbroken's gate,
 * which is refused (its compartment failed to initialise: TWZ_EPERM, no crossing); then it calls libgrsnoop
 * without writing anything. What it wrote was for libgrbroken only: libgrsnoop must find an empty buffer. */
#include <stdio.h>
#include <string.h>

#include "redteam.h"

int main(void)
{
    strcpy(twz_gate_buffer(), "password=hunter2");
    printf("login: %ld\n", broken_login());
    long found = snoop_look();
    printf("snoop finds: %.8s\n", found ? (const char *)&found : "nothing");
    return 0;
}
