/* Attack 10: get into the monitor other than through a monitor gate.
 *   hypercall syscall|sysenter|int80|in|out   libevil traps with that instruction: unwound (TWZ_EFAULT)
 *   hypercall escape    libevil's `out` is refused, then it tries to go on in the caller's address space
 *   hypercall program   the program itself asks for EXIT(42) with `syscall`: killed (status 139)
 * Rules (issue 4, DESIGN.md "Guest ABI"): `syscall` is accepted only from compartment 0's gate code; anywhere
 * else it is a `hypercall` violation. sysenter (#UD), int $0x80 and port I/O (#GP) are CPU faults at CPL3.
 * Inside a crossing, each unwinds it; outside, each kills the program. */
#include <string.h>
#include <twz_hypercall.h>

#include "attacks.h"

long global = 0x610ba1;

/* call_with_rbx(gate, pointer): call the gate with rbx = pointer (rbx is callee-saved: the monitor restores
 * it from the crossing when the crossing ends, however it ends). */
long call_with_rbx(long gate, long *pointer);
__asm__(".text\n.globl call_with_rbx\n.type call_with_rbx, @function\n"
        "call_with_rbx:\n"
        "    push %rbx\n"
        "    mov %rsi, %rbx\n"
        "    call *%rdi\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size call_with_rbx, .-call_with_rbx\n");

int main(int argc, char **argv)
{
    static const char *ways[] = {"syscall", "sysenter", "int80", "in", "out"};
    const char *how = argc > 1 ? argv[1] : "syscall";

    atexit(attack_atexit);
    for (long i = 0; i < 5; i++) {
        if (strcmp(how, ways[i]) == 0) {
            printf("library traps with %s: %ld\n", how, evil_trap(i));
            still_fine();
        }
    }
    if (strcmp(how, "escape") == 0) {
        long got = call_with_rbx((long)evil_out_escape, &global);
        printf("library goes on after out: %ld, my data still: %#lx\n", got, global);
        still_fine();
    }
    if (strcmp(how, "program") == 0) {
        printf("program hypercalls\n");
        twz_hypercall1(TWZ_HC_EXIT, 42);
        printf("program got through\n"); /* never */
    }
    return 0;
}
