/* libgr2f and libgr2g (REC names the gate): one step of the ping-pong between them. */
#include "redteam2.h"

typedef long (*rec_fn)(long, long, long, long);

long REC(long n, long next, long self, long last)
{
    if (n <= 0)
        return ((long (*)(void))last)();
    return ((rec_fn)next)(n - 1, self, next, last);
}
TWZ_GATE(REC);
