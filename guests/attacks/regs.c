/* Attack 11: read what the other side of a crossing left in registers that carry no argument and no result.
 *   regs            the program fills every register but the six arguments with 0x5ec2e7 and calls libevil's
 *                   peeks; then libevil fills every register but rax and the program looks after the return
 * Rule (DESIGN.md "Gate crossing" steps 3 and 4): on entry every general register but the arguments is
 * zeroed; on return every scratch register but rax. Nothing is stopped here: each line must read 0. Vector
 * registers are the same channel as general ones, so they must not carry anything across either; nor the x87
 * registers, whose control word (like MXCSR's control bits) the caller keeps and the callee gets fresh; nor
 * argument registers beyond the ones the gate takes. */
#include "attacks.h"

/* with_secrets(gate): fill rax, rbx, rbp, r10-r15 and xmm0-xmm15 with the secret, zero the other argument
 * registers, call the gate (its address in rsi, an argument register), return its result. */
long with_secrets(long gate);
/* after_return(gate, vector): call the gate, then return the OR of rcx, rdx, rsi, rdi, r8-r11 (vector == 0)
 * or of xmm0-xmm15 (vector != 0) as found after the return. */
long after_return(long gate, long vector);
/* with_arguments(gate): call the gate with the secret in all six argument registers. */
long with_arguments(long gate);
__asm__(".text\n.globl with_arguments\n.type with_arguments, @function\n"
        "with_arguments:\n"
        "    push %rbx\n"
        "    mov %rdi, %rax\n"
        "    mov $0x5ec2e7, %edi\n"
        "    mov %rdi, %rsi\n    mov %rdi, %rdx\n    mov %rdi, %rcx\n    mov %rdi, %r8\n    mov %rdi, %r9\n"
        "    call *%rax\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size with_arguments, .-with_arguments\n"
        ".globl with_secrets\n.type with_secrets, @function\n"
        "with_secrets:\n"
        "    push %rbx\n    push %rbp\n    push %r12\n    push %r13\n    push %r14\n    push %r15\n"
        "    sub $8, %rsp\n"
        "    mov %rdi, %rsi\n"
        "    xor %edi, %edi\n    xor %edx, %edx\n    xor %ecx, %ecx\n    xor %r8d, %r8d\n    xor %r9d, %r9d\n"
        "    mov $0x5ec2e7, %eax\n"
        "    mov %rax, %rbx\n    mov %rax, %rbp\n    mov %rax, %r10\n    mov %rax, %r11\n"
        "    mov %rax, %r12\n    mov %rax, %r13\n    mov %rax, %r14\n    mov %rax, %r15\n"
        "    movq %rax, %xmm0\n    movq %rax, %xmm1\n    movq %rax, %xmm2\n    movq %rax, %xmm3\n"
        "    movq %rax, %xmm4\n    movq %rax, %xmm5\n    movq %rax, %xmm6\n    movq %rax, %xmm7\n"
        "    movq %rax, %xmm8\n    movq %rax, %xmm9\n    movq %rax, %xmm10\n    movq %rax, %xmm11\n"
        "    movq %rax, %xmm12\n    movq %rax, %xmm13\n    movq %rax, %xmm14\n    movq %rax, %xmm15\n"
        "    call *%rsi\n"
        "    add $8, %rsp\n"
        "    pop %r15\n    pop %r14\n    pop %r13\n    pop %r12\n    pop %rbp\n    pop %rbx\n"
        "    ret\n"
        ".size with_secrets, .-with_secrets\n"
        ".globl after_return\n.type after_return, @function\n"
        "after_return:\n"
        "    push %rbx\n"
        "    mov %rsi, %rbx\n"
        "    call *%rdi\n"
        "    test %rbx, %rbx\n"
        "    jnz 1f\n"
        "    or %rcx, %rax\n    or %rdx, %rax\n    or %rsi, %rax\n    or %rdi, %rax\n"
        "    or %r8, %rax\n    or %r9, %rax\n    or %r10, %rax\n    or %r11, %rax\n"
        "    pop %rbx\n"
        "    ret\n"
        "1:  por %xmm1, %xmm0\n    por %xmm2, %xmm0\n    por %xmm3, %xmm0\n    por %xmm4, %xmm0\n"
        "    por %xmm5, %xmm0\n    por %xmm6, %xmm0\n    por %xmm7, %xmm0\n    por %xmm8, %xmm0\n"
        "    por %xmm9, %xmm0\n    por %xmm10, %xmm0\n    por %xmm11, %xmm0\n    por %xmm12, %xmm0\n"
        "    por %xmm13, %xmm0\n    por %xmm14, %xmm0\n    por %xmm15, %xmm0\n"
        "    movq %xmm0, %rax\n"
        "    or %rax, %rax\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size after_return, .-after_return\n");

int main(void)
{
    unsigned long start_x87 = x87_mantissas(); /* first: what libvictim's constructor left, if anything */
    long start_xmm15;
    __asm__ volatile("movq %%xmm15, %0" : "=r"(start_xmm15));
    printf("the program starts with x87 registers %#lx and xmm15 %#lx\n", start_x87, start_xmm15);
    atexit(attack_atexit);
    long general = with_secrets((long)evil_peek_regs);
    long vector = with_secrets((long)evil_peek_vregs);
    printf("callee sees the caller's general registers: %#lx\n", general);
    printf("callee sees the caller's vector registers: %#lx\n", vector);
    general = after_return((long)evil_leave_regs, 0);
    vector = after_return((long)evil_leave_regs, 1);
    printf("caller sees the callee's general registers: %#lx\n", general);
    printf("caller sees the callee's vector registers: %#lx\n", vector);
    /* argument registers a gate does not take (its DWARF says how many it takes) */
    printf("a gate taking no argument sees: %#lx\n", with_arguments((long)evil_peek_args));
    printf("a gate taking one argument gets it and sees: %#lx\n", with_arguments((long)evil_peek_other_args));
    /* x87 and MXCSR: the registers are caller-saved, the control words callee-saved (psABI 3.2.1) */
    set_fpu_control(0x27f, 0x9fe0); /* double precision; flush-to-zero, denormals-are-zero; inexact raised */
    push_x87(0x5ec2e7);
    long x87 = evil_peek_x87();
    long control = evil_peek_fpu_control();
    printf("callee sees the caller's x87 registers: %#lx\n", x87);
    printf("callee starts with floating-point control %#lx\n", control);
    evil_leave_fpu();
    unsigned long mine = fpu_control();
    printf("caller sees the callee's x87 registers: %#lx\n", x87_mantissas());
    printf("caller keeps floating-point control %#lx\n", mine);
    set_fpu_control(0x37f, 0x1f80);
    still_fine();
    return 0;
}
