/* libgframez: fully isolated; calls the function it is given (a gate of someone else). */
#include "holes.h"

long gframez_call(long callback, long value)
{
    return ((long (*)(long))callback)(value);
}
TWZ_GATE(gframez_call);
