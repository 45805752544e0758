/* Hole 6: what two compartments exchange in the gate buffer is never readable by a third. */
#include <stdio.h>
#include <string.h>
#include "holes.h"

int main(void)
{
    char *buffer = twz_gate_buffer();
    strcpy(buffer, "password-hunter2");
    printf("login: %ld\n", gbufsecret_login());
    printf("received: %s\n", buffer);
    printf("snoop finds %ld bytes after the exchange\n", gbufsnoop_look());
    printf("received, still: %s\n", buffer);
    strcpy(buffer, "hi");
    printf("snoop finds %ld bytes of my new message\n", gbufsnoop_look());
    strcpy(buffer, "password-hunter2");
    printf("snoop called by the secret library finds %ld bytes\n", gbufsecret_then_snoop());
    printf("snoop executes its gate buffer: %ld\n", gbufsnoop_exec());
    printf("snoop still: %ld\n", gbufsnoop_look());
    return 0;
}
