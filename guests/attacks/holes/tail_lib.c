/* libgtail: at -O2 its gate compiles to a jmp into libgtailnone's gate. */
#include "holes.h"

long gtail_gate(long x)
{
    return gtailnone_twice(x);
}
TWZ_GATE(gtail_gate);
