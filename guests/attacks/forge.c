/* Attack 4: enter a gate by jmp instead of call, with a forged return address that follows no call
 * instruction of the caller.
 *   forge           libevil does it (unwound: TWZ_EFAULT), then the program does it: killed (status 139)
 * Rule (DESIGN.md "Gate crossing" step 2): the return address on the caller's stack must be just after a call
 * instruction of the caller's compartment -> `enter` violation. */
#include "attacks.h"

/* forge_enter(gate, argument): push the address of 1: (after a jmp, not a call), jmp to the gate. Were the
 * entry accepted, the gate would return to 1: and forge_enter would return its result. */
long forge_enter(long gate, long argument);
__asm__(".text\n.globl forge_enter\n.type forge_enter, @function\n"
        "forge_enter:\n"
        "    mov %rdi, %rax\n"
        "    mov %rsi, %rdi\n"
        "    lea 1f(%rip), %rcx\n"
        "    push %rcx\n"
        "    jmp *%rax\n"
        "1:  ret\n"
        ".size forge_enter, .-forge_enter\n");

int main(void)
{
    atexit(attack_atexit);
    printf("library jumps to a gate with a forged return: %ld\n", evil_forge_enter((long)victim_add));
    still_fine();
    printf("program jumps to a gate with a forged return\n");
    printf("program got through: %#lx\n", forge_enter((long)victim_add, 1)); /* never */
    return 0;
}
