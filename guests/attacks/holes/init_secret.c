/* libginitsecret: ready only once its constructor ran. */
#include "holes.h"

static long ready;

__attribute__((constructor)) static void start(void)
{
    ready = 1;
}

long ginitsecret_ready(void)
{
    return ready;
}
TWZ_GATE(ginitsecret_ready);
