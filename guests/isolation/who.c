/* libwho.so: the other half of whoami.c. */
#include <twz.h>

long who_are_you(void)
{
    twz_compartment_name(); /* written into the gate buffer, which the caller sees too */
    return twz_compartment_id();
}
TWZ_GATE(who_are_you);
