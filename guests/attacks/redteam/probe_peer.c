/* libgrpeer: its callers trust it (level callee: it sees their memory while they call it). It hands a pointer
 * into its caller's memory to a third compartment, which calls it back. */
#include "redteam.h"

__attribute__((weak)) long __twz_monitor_write(long fd, const void *buf, unsigned long len); /* the monitor's service (guests/rt/sys.h) */

long peer_relay(long address, long results)
{
    long *out = (long *)results; /* in the caller's memory: the caller trusts this library */
    out[0] = *(volatile long *)address;
    out[1] = third_read(address);     /* the third compartment sees nothing of the caller */
    out[2] = third_callback(address); /* its call back into this library is not the caller's crossing */
    out[3] = *(volatile long *)address;
    return 0;
}
TWZ_GATE_LEVEL(peer_relay, TWZ_ISOLATE_CALLEE);

long peer_read_full(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(peer_read_full);

long peer_write(long address, long length)
{
    return __twz_monitor_write(1, (const void *)address, (unsigned long)length);
}
TWZ_GATE_LEVEL(peer_write, TWZ_ISOLATE_CALLEE);
