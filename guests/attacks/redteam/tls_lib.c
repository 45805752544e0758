/* libgrtls: thread-local state in an isolated library. The test patches its PT_TLS segment's size. */
#include "redteam.h"

static __thread long counter = 5;

long tls_bump(void)
{
    return ++counter;
}
TWZ_GATE(tls_bump);
