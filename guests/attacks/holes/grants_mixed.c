/* libgmixed: one gate at level none and one at level full. What the callee sees is decided per gate. */
#include "holes.h"

static long own = 0x3173d;

long gmixed_none_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE_LEVEL(gmixed_none_read, TWZ_ISOLATE_NONE);

long gmixed_full_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(gmixed_full_read);

long gmixed_address(void)
{
    return (long)&own;
}
TWZ_GATE(gmixed_address);

/* Calls libgpeer, which reads what the program once showed it: this crossing is not the program's. */
long gmixed_relay(void)
{
    return gpeer_read_kept();
}
TWZ_GATE(gmixed_relay);
