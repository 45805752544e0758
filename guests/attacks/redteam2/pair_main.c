#include <stdio.h>
#include "redteam2.h"

static volatile long word = 0x600d;

/* Call c_first with rsp at offset 0x800 of this compartment's (stale) gate buffer: the call's push is the first
 * write into the buffer, so it starts a new message holding only the return address (at 0x7f8). */
static long call_with_stack_in_buffer(long (*gate)(void))
{
    long result;
    __asm__ volatile("mov %%rsp, %%r12\n"
                     "mov %[top], %%rsp\n"
                     "call *%[gate]\n"
                     "mov %%r12, %%rsp\n"
                     : "=a"(result)
                     : [top] "D"((char *)twz_gate_buffer() + 0x800), [gate] "S"(gate)
                     : "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "memory", "cc");
    return result;
}

int main(void)
{
    long *buffer = twz_gate_buffer();
    printf("none reads my word: %#lx\n", c_none_read((long)&word));
    printf("full reads it after: %ld\n", c_full_read((long)&word));
    printf("none reads it again: %#lx\n", c_none_read((long)&word));
    printf("full reads it again: %ld\n", c_full_read((long)&word));
    c_reply(0x5ec2e7);
    printf("reply: %#lx\n", buffer[0]);
    printf("c receives with my stack in the buffer: %ld\n", call_with_stack_in_buffer(c_first));
    c_reply(0x5ec2e7);
    long at = call_with_stack_in_buffer(c_first);
    printf("again: %ld; my buffer after: %ld\n", at, buffer[0]);
    return 0;
}
