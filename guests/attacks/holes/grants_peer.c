/* libgpeer: its gates are declared at level callee, so each caller's memory is visible to it while that caller's
 * crossing into it lives; nothing else ever is. */
#include "holes.h"

static long kept;
static long own = 0x9ee9;

long gpeer_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE_LEVEL(gpeer_read, TWZ_ISOLATE_CALLEE);

long gpeer_write(long address, long value)
{
    *(volatile long *)address = value;
    return 0;
}
TWZ_GATE_LEVEL(gpeer_write, TWZ_ISOLATE_CALLEE);

long gpeer_keep(long address)
{
    kept = address;
    return 0;
}
TWZ_GATE_LEVEL(gpeer_keep, TWZ_ISOLATE_CALLEE);

long gpeer_read_kept(void)
{
    return *(volatile long *)kept;
}
TWZ_GATE_LEVEL(gpeer_read_kept, TWZ_ISOLATE_CALLEE);

long gpeer_address(void)
{
    return (long)&own;
}
TWZ_GATE_LEVEL(gpeer_address, TWZ_ISOLATE_CALLEE);
