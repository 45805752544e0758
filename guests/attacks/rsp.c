/* Attack 6: the caller points rsp into the callee's memory (its data, heap or stack, through leaked pointers)
 * and then calls or jumps to the callee's gate, hoping the call, the monitor or the callee will write there.
 *   rsp                          libevil does it with each leaked pointer: unwound (TWZ_EFAULT), victim intact
 *   rsp data|heap|stack call|jump   ... then the program does it: killed (status 139), the victim never entered
 * Rules: a call's push into memory the caller may not write is a `write` violation (before any crossing);
 * with jmp, the return address on the stack cannot be read in the caller's compartment -> `enter` violation.
 * Either way the callee runs on its own fresh stack only, so it cannot be made to corrupt itself. */
#include <string.h>

#include "attacks.h"

/* call_on_stack(stack, gate): rsp = stack; call gate (rdi = 1); rsp restored from rbx. */
long call_on_stack(long stack, long gate);
/* jump_on_stack(stack, gate): rsp = stack; jmp gate (whatever lies at the stack is the "return address"). */
long jump_on_stack(long stack, long gate);
__asm__(".text\n.globl call_on_stack\n.type call_on_stack, @function\n"
        "call_on_stack:\n"
        "    push %rbx\n"
        "    mov %rsp, %rbx\n"
        "    mov %rdi, %rsp\n"
        "    mov $1, %edi\n"
        "    call *%rsi\n"
        "    mov %rbx, %rsp\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size call_on_stack, .-call_on_stack\n"
        ".globl jump_on_stack\n.type jump_on_stack, @function\n"
        "jump_on_stack:\n"
        "    mov %rdi, %rsp\n"
        "    mov $1, %edi\n"
        "    jmp *%rsi\n"
        ".size jump_on_stack, .-jump_on_stack\n");

int main(int argc, char **argv)
{
    static const char *names[3] = {"data", "heap", "stack"};
    long where[3] = {victim_data_address(), victim_heap_address(), victim_stack_address()};

    atexit(attack_atexit);
    for (int i = 0; i < 3; i++) {
        printf("library calls with rsp in victim %s: %ld\n", names[i], evil_call_on_stack(where[i], (long)victim_add));
        still_fine();
    }
    for (int i = 0; argc > 2 && i < 3; i++) {
        if (strcmp(argv[1], names[i]) != 0)
            continue;
        int jump = strcmp(argv[2], "jump") == 0;
        printf("program %s with rsp in victim %s\n", jump ? "jumps" : "calls", names[i]);
        long got = jump ? jump_on_stack(where[i], (long)victim_add) : call_on_stack(where[i], (long)victim_add);
        printf("program got through: %#lx\n", got); /* never */
    }
    return 0;
}
