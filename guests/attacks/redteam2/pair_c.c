/* libgr2c: reads through the page tables of the crossing it serves; writes and reads gate-buffer messages. */
#include "redteam2.h"

long c_none_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE_LEVEL(c_none_read, TWZ_ISOLATE_NONE);

long c_full_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(c_full_read);

long c_reply(long word)
{
    *(volatile long *)twz_gate_buffer() = word;
    return 0;
}
TWZ_GATE(c_reply);

long c_first(void)
{
    return *(volatile long *)twz_gate_buffer();
}
TWZ_GATE(c_first);

long c_word(long offset)
{
    return *(volatile long *)((char *)twz_gate_buffer() + (offset & 4088));
}
TWZ_GATE(c_word);

static long secret = 0x5ec2e7;

/* level none: the address of a word of libgr2c's own data */
long c_secret_address(void)
{
    return (long)&secret;
}
TWZ_GATE_LEVEL(c_secret_address, TWZ_ISOLATE_NONE);
