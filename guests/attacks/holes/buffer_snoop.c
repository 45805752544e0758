/* libgbufsnoop: counts the nonzero bytes in its gate buffer, the way a snooping library would look. */
#include "holes.h"

long gbufsnoop_look(void)
{
    const char *buffer = twz_gate_buffer();
    long found = 0;
    for (int i = 0; i < TWZ_GATE_BUFFER_SIZE; i++)
        found += buffer[i] != 0;
    return found;
}
TWZ_GATE(gbufsnoop_look);

long gbufsnoop_exec(void)
{
    return ((long (*)(void))twz_gate_buffer())();
}
TWZ_GATE(gbufsnoop_exec);
