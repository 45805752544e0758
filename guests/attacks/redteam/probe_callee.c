/* libgrcallee (level full): gates that play with rsp, the return point and the TCB (assembly where the stack
 * must be exact). */
#include "redteam.h"

__asm__(".text\n"
        /* call gate with rsp 4 bytes off alignment (the push lands there; the entry is refused) */
        ".globl callee_call_unaligned\n.type callee_call_unaligned, @function\n"
        "callee_call_unaligned:\n"
        "    push %rbx\n"
        "    mov %rsp, %rbx\n"
        "    sub $4, %rsp\n"
        "    call *%rdi\n"
        "    mov %rbx, %rsp\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size callee_call_unaligned, .-callee_call_unaligned\n"
        /* call gate with rsp 16 bytes above the bottom of this compartment's stack (its slot + 0x1000): a
         * level-none callee would run just below, in the stack slot's null page */
        ".globl callee_call_at_bottom\n.type callee_call_at_bottom, @function\n"
        "callee_call_at_bottom:\n"
        "    push %rbx\n"
        "    mov %rsp, %rbx\n"
        "    mov %rsp, %rax\n"
        "    and $~0x3fffffff, %rax\n"
        "    add $0x1010, %rax\n"
        "    mov %rax, %rsp\n"
        "    call *%rdi\n"
        "    mov %rbx, %rsp\n"
        "    pop %rbx\n"
        "    ret\n"
        ".size callee_call_at_bottom, .-callee_call_at_bottom\n"
        /* move to a stack in its own data, put the return point there and return 42 through it */
        ".globl callee_switch_stack\n.type callee_switch_stack, @function\n"
        "callee_switch_stack:\n"
        "    mov (%rsp), %rax\n"
        "    lea other_stack+4096(%rip), %rsp\n"
        "    push %rax\n"
        "    mov $42, %eax\n"
        "    ret\n"
        ".size callee_switch_stack, .-callee_switch_stack\n"
        /* not a tail call: 64 bytes of junk on its stack, then the return point as the return address of a jmp
         * to gate; gate's return comes back here, at the return point, which then ends this crossing */
        ".globl callee_forge_tail\n.type callee_forge_tail, @function\n"
        "callee_forge_tail:\n"
        "    mov (%rsp), %rax\n"
        "    sub $64, %rsp\n"
        "    movq $0x6a756e6b, (%rsp)\n"
        "    push %rax\n"
        "    jmp *%rdi\n"
        ".size callee_forge_tail, .-callee_forge_tail\n"
        ".bss\n.align 16\nother_stack: .zero 4096\n.text\n");
TWZ_GATE(callee_call_unaligned);
TWZ_GATE(callee_call_at_bottom);
TWZ_GATE(callee_switch_stack);
TWZ_GATE(callee_forge_tail);

/* Lie about who called: the TCB is this compartment's to write. Neither the monitor nor anyone called from
 * here may believe it. */
long callee_tcb_lie(long gate)
{
    long *tcb;
    __asm__("mov %%fs:0, %0" : "=r"(tcb));
    tcb[TCB_CALLER / 8] = 99;
    long who = ((long (*)(void))gate)();
    return who * 1000 + twz_compartment_id();
}
TWZ_GATE(callee_tcb_lie);

long callee_id(void)
{
    return twz_compartment_id();
}
TWZ_GATE(callee_id);

/* Move the thread pointer without wrfsbase: loading %fs with the user data selector sets its base to that
 * descriptor's (0); reading the TCB's self pointer at %fs:0 then faults at address 0. The monitor sets the
 * thread pointer again on every switch. */
static __thread long tls_word = 0x7155;

long callee_zero_fs(void)
{
    unsigned short selector = 3 << 3 | 3; /* USER_DS (twzemu/machine/x86.py) */
    long self;
    __asm__ volatile("mov %1, %%fs\n\tmov %%fs:0, %0" : "=r"(self) : "r"(selector) : "memory");
    return self;
}
TWZ_GATE(callee_zero_fs);

long callee_tls(void)
{
    return tls_word;
}
TWZ_GATE(callee_tls);

/* Set the trap flag: a debug trap after the next instruction. */
long callee_trap_flag(void)
{
    __asm__ volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\tnop" : : : "memory", "cc");
    return 5;
}
TWZ_GATE(callee_trap_flag);
