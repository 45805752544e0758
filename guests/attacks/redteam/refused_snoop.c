/* libgrsnoop: reports what it finds in its gate buffer when called. */
#include <string.h>

#include "redteam.h"

long snoop_look(void)
{
    const char *buffer = twz_gate_buffer();
    long found = 0;
    memcpy(&found, buffer + 9, sizeof found); /* "password=" is 9 bytes: the 8 after it */
    return found;
}
TWZ_GATE(snoop_look);
