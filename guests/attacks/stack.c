/* Attack 7: a callee reads and writes its caller's stack (and data) through pointers passed as arguments.
 *   stack           libevil gets &local and &global: each attempt unwound (TWZ_EFAULT), both unchanged; the
 *                   per-thread gate buffer, mapped in both compartments, is the channel that works
 * Rule: the caller's stack and data are not mapped in the callee's compartment (full isolation) ->
 * `read`/`write` violation inside the crossing, unwound. */
#include "attacks.h"

long global = 0x610ba1;

int main(void)
{
    volatile long local = 0x10ca1;

    atexit(attack_atexit);
    printf("library writes my stack: %ld\n", evil_write((long)&local, 0xbad));
    printf("my stack still: %#lx\n", local);
    printf("library reads my stack: %ld\n", evil_read((long)&local));
    printf("library writes my data: %ld\n", evil_write((long)&global, 0xbad));
    printf("my data still: %#lx\n", global);
    still_fine();
    long *buffer = twz_gate_buffer();
    printf("library writes the gate buffer: %ld\n", evil_write((long)buffer, 0x600d));
    printf("gate buffer: %#lx\n", *buffer);
    return 0;
}
