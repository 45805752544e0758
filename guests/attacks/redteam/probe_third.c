/* libgrthird (level full, one gate at level none): the third compartment. */
#include <stdio.h>

#include "redteam.h"

/* the monitor's services (guests/rt/sys.h) */
__attribute__((weak)) long __twz_monitor_write(long fd, const void *buf, unsigned long len);
__attribute__((weak)) void *__twz_monitor_heap_grow(unsigned long bytes);
__attribute__((weak)) long __twz_monitor_compartment_info(long what);

long third_value(void)
{
    return 0x7417;
}
TWZ_GATE(third_value);

long third_none(void)
{
    return 0x7417;
}
TWZ_GATE_LEVEL(third_none, TWZ_ISOLATE_NONE);

long third_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(third_read);

long third_callback(long address)
{
    return peer_read_full(address);
}
TWZ_GATE(third_callback);

long third_write(long address, long length)
{
    return __twz_monitor_write(1, (const void *)address, (unsigned long)length);
}
TWZ_GATE(third_write);

long third_heap_grow(long bytes)
{
    return (long)__twz_monitor_heap_grow((unsigned long)bytes);
}
TWZ_GATE(third_heap_grow);

long third_info(long what)
{
    return __twz_monitor_compartment_info(what);
}
TWZ_GATE(third_info);

static long nonzero_bytes(const unsigned char *buffer)
{
    long count = 0;
    for (int i = 0; i < TWZ_GATE_BUFFER_SIZE; i++)
        count += buffer[i] != 0;
    return count;
}

/* The received message is stale: rep movsb shifting it down by one byte faults on its first write, which
 * clears the buffer and starts a new message; the rest of the copy reads zeros. */
long third_shift(void)
{
    unsigned char *buffer = twz_gate_buffer();
    void *to = buffer, *from = buffer + 1;
    unsigned long count = 64;
    __asm__ volatile("rep movsb" : "+D"(to), "+S"(from), "+c"(count) : : "memory");
    return nonzero_bytes(buffer);
}
TWZ_GATE(third_shift);

/* std; rep stosb from the buffer's last byte down: the first write (at the end) starts the new message. */
long third_fill_backwards(void)
{
    unsigned char *buffer = twz_gate_buffer();
    void *to = buffer + TWZ_GATE_BUFFER_SIZE - 1;
    unsigned long count = TWZ_GATE_BUFFER_SIZE;
    __asm__ volatile("std\n\trep stosb\n\tcld" : "+D"(to), "+c"(count) : "a"('x') : "memory");
    return nonzero_bytes(buffer);
}
TWZ_GATE(third_fill_backwards);

/* A reply, then a monitor service (output): calls into the monitor neither send nor consume a message. */
long third_reply_then_print(void)
{
    char *buffer = twz_gate_buffer();
    buffer[0] = 'p', buffer[1] = 'o', buffer[2] = 'n', buffer[3] = 'g';
    printf("third prints\n");
    fflush(stdout);
    return 0;
}
TWZ_GATE(third_reply_then_print);
