/* libgrtarget: a gate, and nothing else. */
#include "redteam.h"

long target_add(long x)
{
    return x + 1;
}
TWZ_GATE(target_add);
