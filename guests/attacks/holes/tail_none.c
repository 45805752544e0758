/* libgtailnone: a level-none gate (its callee runs on the caller's stack). */
#include "holes.h"

long gtailnone_twice(long x)
{
    return 2 * x;
}
TWZ_GATE_LEVEL(gtailnone_twice, TWZ_ISOLATE_NONE);
