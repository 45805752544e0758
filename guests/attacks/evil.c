/* libevil.so: an isolated library that attacks from inside a crossing. Each gate tries one forbidden thing
 * with what its caller hands it; the monitor must stop it with a one-line report and unwind only this crossing
 * (DESIGN.md "What a violation does"): the caller's call returns TWZ_EFAULT and everything else goes on.
 * If an attack got through, the gate returns its normal result instead (0, 42, what it read, ...). */
#include <string.h>

#include "attacks.h"
#include <twz_hypercall.h>

static __thread long pings; /* thread-local: proves this compartment's thread pointer is intact */

long evil_ping(void)
{
    return ++pings;
}
TWZ_GATE(evil_ping);

/* Attacks 1, 7: read another compartment's data, heap or stack through a leaked pointer.
 * Stopped by: the address is not mapped in this compartment's page tables -> read violation, unwound. */
long evil_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(evil_read);

/* Attacks 2, 7: the same, writing (a callee writing its caller's stack, too). Same rule: write violation. */
long evil_write(long address, long value)
{
    *(volatile long *)address = value;
    return 0;
}
TWZ_GATE(evil_write);

/* Attack 3: call a non-gate function, or the middle of a gate, of another compartment through a pointer.
 * Stopped by: the fetch faults and the address is not a gate entry -> execute violation, unwound. */
long evil_call(long address)
{
    long (*volatile function)(long) = (long (*)(long))address;
    volatile long result = function(0); /* a real call: gcc may not turn it into a jmp */
    return result;
}
TWZ_GATE(evil_call);

/* Not an attack: the same call in tail position, which gcc -O2 compiles to a jmp, so the return address the
 * callee's gate sees is this crossing's own (the monitor's return point). A legitimate nested crossing. */
long evil_tail_call(long address)
{
    long (*volatile function)(long) = (long (*)(long))address;
    return function(0);
}
TWZ_GATE(evil_tail_call);

/* Attacks 4, 5 and 6 need exact control of the stack: written in assembly. */
__asm__(".text\n"
        /* Attack 4: enter a gate by jmp with a forged return address (label 1 follows a jmp, not a call).
         * Stopped by: the return address on the stack is not a return site of this compartment -> enter
         * violation, unwound. (Were it accepted, the gate would come back to 1: and ret normally.) */
        ".globl evil_forge_enter\n.type evil_forge_enter, @function\n"
        "evil_forge_enter:\n"
        "    lea 1f(%rip), %rax\n"
        "    push %rax\n"
        "    jmp *%rdi\n"
        "1:  ret\n"
        ".size evil_forge_enter, .-evil_forge_enter\n"
        /* Attack 5: leave the crossing by jumping straight into the caller's code.
         * Stopped by: the caller's text is not mapped here -> execute violation, unwound. */
        ".globl evil_jump\n.type evil_jump, @function\n"
        "evil_jump:\n"
        "    jmp *%rdi\n"
        ".size evil_jump, .-evil_jump\n"
        /* Attack 5: overwrite its own return slot (the monitor's return point) and return anywhere but the
         * call site. Stopped by: same rule as evil_jump. */
        ".globl evil_ret_to\n.type evil_ret_to, @function\n"
        "evil_ret_to:\n"
        "    mov %rdi, (%rsp)\n"
        "    ret\n"
        ".size evil_ret_to, .-evil_ret_to\n"
        /* Attack 6: point rsp into the callee's memory, then call its gate, so that the call (and, were
         * stacks shared, the callee itself) would write there. Stopped by: the call's push faults -> write
         * violation, unwound; the callee never runs. (Were the push allowed, rbx brings rsp back.) */
        ".globl evil_call_on_stack\n.type evil_call_on_stack, @function\n"
        "evil_call_on_stack:\n"
        "    push %rbx\n"
        "    mov %rsp, %rbx\n"
        "    mov %rdi, %rsp\n"
        "    call *%rsi\n"
        "    mov %rbx, %rsp\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size evil_call_on_stack, .-evil_call_on_stack\n");
TWZ_GATE(evil_forge_enter);
TWZ_GATE(evil_jump);
TWZ_GATE(evil_ret_to);
TWZ_GATE(evil_call_on_stack);

/* Attack 8: W^X in its own compartment. `mov $42, %eax; ret`: returns 42 if it ever runs. */
#define CODE {0xb8, 42, 0, 0, 0, 0xc3}
static unsigned char evil_code_in_data[16] = CODE;

__attribute__((noinline)) static long evil_text(void)
{
    __asm__ volatile("");
    return 7;
}

static long run(unsigned char *code)
{
    long (*volatile function)(void) = (long (*)(void))code;
    return function();
}

/* Stopped by: text pages are R-X -> write violation, unwound. */
long evil_write_text(void)
{
    *(volatile unsigned char *)(void *)evil_text = 0xc3;
    return evil_text();
}
TWZ_GATE(evil_write_text);

/* Stopped by: data pages are NX -> execute violation, unwound. */
long evil_exec_data(void)
{
    return run(evil_code_in_data);
}
TWZ_GATE(evil_exec_data);

/* Stopped by: stack pages are NX -> execute violation, unwound. */
long evil_exec_stack(void)
{
    unsigned char code[16] = CODE;
    return run(code);
}
TWZ_GATE(evil_exec_stack);

/* Stopped by: heap pages are NX -> execute violation, unwound. */
long evil_exec_heap(void)
{
    static const unsigned char code[16] = CODE;
    unsigned char *heap = malloc(sizeof code);
    memcpy(heap, code, sizeof code);
    return run(heap);
}
TWZ_GATE(evil_exec_heap);

/* Attack 9: point fs at `where` (another compartment's data, say). Stopped by: CR4.FSGSBASE is clear, so
 * wrfsbase is an invalid opcode -> a fault inside the crossing, unwound; fs is the monitor's to set. */
long evil_move_tp(long where)
{
    __asm__ volatile("wrfsbase %0" : : "r"(where));
    return 0;
}
TWZ_GATE(evil_move_tp);

/* Attack 10: get into the monitor other than through a monitor gate: `syscall` (the hypercall instruction,
 * here a WRITE to stdout), `sysenter`, `int $0x80`, and port I/O (`in`, `out`). Stopped by (issue 4):
 * `syscall` is accepted only from compartment 0's gate code -> `hypercall` violation; the others are CPU
 * faults at CPL3 (#UD, #GP). Inside a crossing each must unwind it, and nothing after the instruction runs. */
long evil_trap(long how)
{
    static const char message[] = "evil: wrote around the monitor\n";
    long result = 0;
    switch (how) {
    case 0:
        result = twz_hypercall3(TWZ_HC_WRITE, 1, (long)message, sizeof message - 1);
        break;
    case 1:
        __asm__ volatile("sysenter" : "+a"(result) : : "rcx", "r11", "memory");
        break;
    case 2:
        __asm__ volatile("int $0x80" : "+a"(result) : : "memory");
        break;
    case 3:
        __asm__ volatile("in $0x60, %%al" : "+a"(result) : : "memory");
        break;
    case 4:
        __asm__ volatile("out %%al, $0x60" : : "a"(result) : "memory");
        break;
    }
    return result;
}
TWZ_GATE(evil_trap);

/* Attack 10, what an unwound crossing must not let through: `out` is refused, and the crossing unwound, so
 * none of the next instructions may run. If they did run, they would run after the unwinding: in the
 * caller's address space, with the caller's callee-saved registers (rbx) and stack (rsp). They write 0xbad
 * through rbx and jump back to the caller's return site with 7 as the result. (Had `out` been a no-op, the
 * write through rbx, zeroed on entry, would be a null-page fault, unwound: TWZ_EFAULT either way.) */
__asm__(".text\n.globl evil_out_escape\n.type evil_out_escape, @function\n"
        "evil_out_escape:\n"
        "    out %al, $0x60\n"
        "    movq $0xbad, (%rbx)\n"
        "    mov $7, %eax\n"
        "    jmp *-8(%rsp)\n"
        ".size evil_out_escape, .-evil_out_escape\n");
TWZ_GATE(evil_out_escape);

/* Attack 11 (registers): what the other side left in registers that carry no argument or result. On entry
 * the monitor zeroes every general register but the six arguments (DESIGN.md "Gate crossing" step 3); on
 * return every scratch register but rax (step 4). Each peek returns the OR of what it finds: 0 if nothing
 * leaked. evil_leave_regs fills the registers its caller could look at after the return. */
__asm__(".text\n"
        ".globl evil_peek_regs\n.type evil_peek_regs, @function\n"
        "evil_peek_regs:\n"
        "    or %rbx, %rax\n    or %rbp, %rax\n    or %r10, %rax\n    or %r11, %rax\n"
        "    or %r12, %rax\n    or %r13, %rax\n    or %r14, %rax\n    or %r15, %rax\n"
        "    ret\n"
        ".size evil_peek_regs, .-evil_peek_regs\n"
        ".globl evil_peek_vregs\n.type evil_peek_vregs, @function\n"
        "evil_peek_vregs:\n"
        "    por %xmm1, %xmm0\n    por %xmm2, %xmm0\n    por %xmm3, %xmm0\n    por %xmm4, %xmm0\n"
        "    por %xmm5, %xmm0\n    por %xmm6, %xmm0\n    por %xmm7, %xmm0\n    por %xmm8, %xmm0\n"
        "    por %xmm9, %xmm0\n    por %xmm10, %xmm0\n    por %xmm11, %xmm0\n    por %xmm12, %xmm0\n"
        "    por %xmm13, %xmm0\n    por %xmm14, %xmm0\n    por %xmm15, %xmm0\n"
        "    movq %xmm0, %rax\n"
        "    ret\n"
        ".size evil_peek_vregs, .-evil_peek_vregs\n"
        ".globl evil_leave_regs\n.type evil_leave_regs, @function\n"
        "evil_leave_regs:\n"
        "    mov $0xe51, %eax\n"
        "    mov %rax, %rcx\n    mov %rax, %rdx\n    mov %rax, %rsi\n    mov %rax, %rdi\n"
        "    mov %rax, %r8\n    mov %rax, %r9\n    mov %rax, %r10\n    mov %rax, %r11\n"
        "    movq %rax, %xmm0\n    movq %rax, %xmm1\n    movq %rax, %xmm2\n    movq %rax, %xmm3\n"
        "    movq %rax, %xmm4\n    movq %rax, %xmm5\n    movq %rax, %xmm6\n    movq %rax, %xmm7\n"
        "    movq %rax, %xmm8\n    movq %rax, %xmm9\n    movq %rax, %xmm10\n    movq %rax, %xmm11\n"
        "    movq %rax, %xmm12\n    movq %rax, %xmm13\n    movq %rax, %xmm14\n    movq %rax, %xmm15\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        ".size evil_leave_regs, .-evil_leave_regs\n");
TWZ_GATE(evil_peek_regs);
TWZ_GATE(evil_peek_vregs);
TWZ_GATE(evil_leave_regs);

/* C gates, so that their DWARF says how many arguments they take (twzemu/elf/parameters.py); built without
 * optimisation (guests/Makefile), nothing touches the argument registers before the asm reads them. */
long evil_peek_args(void)
{
    long bits;
    __asm__ volatile("mov %%rdi, %0\n\tor %%rsi, %0\n\tor %%rdx, %0\n\tor %%rcx, %0\n\tor %%r8, %0\n\tor %%r9, %0"
                     : "=a"(bits));
    return bits;
}
TWZ_GATE(evil_peek_args);
long evil_peek_other_args(long first)
{
    long bits;
    __asm__ volatile("mov %%rsi, %0\n\tor %%rdx, %0\n\tor %%rcx, %0\n\tor %%r8, %0\n\tor %%r9, %0" : "=a"(bits));
    return bits ? bits : first;
}
TWZ_GATE(evil_peek_other_args);

long evil_peek_x87(void) { return (long)x87_mantissas(); }
TWZ_GATE(evil_peek_x87);
long evil_peek_fpu_control(void) { return (long)fpu_control(); }
TWZ_GATE(evil_peek_fpu_control);
long evil_leave_fpu(void)
{
    push_x87(0x5ec2e7);
    set_fpu_control(0x7f, 0x3f); /* every exception unmasked, every SSE status flag set */
    return 0;
}
TWZ_GATE(evil_leave_fpu);
