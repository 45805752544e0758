/* libgrbroken: its constructor faults, so its compartment failed to initialise and its gates answer TWZ_EPERM
 * without being entered. */
#include "redteam.h"

__attribute__((constructor)) static void start(void)
{
    __asm__ volatile("int $0x80");
}

long broken_login(void)
{
    return 1;
}
TWZ_GATE(broken_login);
