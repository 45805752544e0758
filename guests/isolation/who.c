/* libwho.so: the other half of whoami.c. */
#include <string.h>
#include <twz.h>

long who_are_you(void)
{
    char name[64];
    strncpy(name, twz_compartment_name(), sizeof name - 1); /* the monitor's answer, in this gate buffer */
    name[sizeof name - 1] = 0;
    strcpy(twz_gate_buffer(), name); /* passed on as this compartment's own reply: a message crosses once */
    return twz_compartment_id();
}
TWZ_GATE(who_are_you);
