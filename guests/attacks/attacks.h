/* The attack suite of issue 4 (tests/test_attacks.py): each program tries one way across a compartment
 * boundary, first from inside a crossing (libevil), then, where it makes sense, from the program itself.
 *   leak.c   1, 2  read/write another compartment's data, heap and stack through leaked pointers
 *   call.c   3     call a non-gate function, or the middle of a gate, through a function pointer
 *   forge.c  4     jmp to a gate with a forged return address
 *   escape.c 5     a callee that jumps or returns into its caller's code
 *   rsp.c    6     the caller points rsp into the callee's memory before the call
 *   stack.c  7     the callee reads/writes its caller's stack and data
 *   wx.c     8     write text; execute data, stack and heap
 *   tp.c     9     move the thread pointer (wrfsbase)
 *   hypercall.c 10 get into the monitor other than through a monitor gate (syscall, sysenter, int, in/out)
 *   regs.c   11    read what the other side left in registers
 *
 * Every program links the two isolated libraries declared below (DESIGN.md "Gate crossing"). Both declare
 * gates, so each gets a compartment of its own: `<program>::libvictim.so` holds the state the attacks go
 * after; `<program>::libevil.so` attacks from inside a crossing, where a violation must unwind only its
 * crossing (the program's call returns TWZ_EFAULT and goes on). Addresses cross gates as plain longs: that is
 * how a pointer leaks.
 *
 * (No program both calls a library function and takes its address: `twzemu cc` then fails to link, "ld:
 * .eh_frame_hdr refers to overlapping FDEs", because guests/twz.ld merges .plt.got into .plt.) */
#ifndef ATTACKS_H
#define ATTACKS_H

#include <stdio.h>
#include <stdlib.h>
#include <twz.h>

/* libvictim.so (victim.c) */
long victim_value(void);            /* legitimate: its data secret plus its heap secret */
long victim_add(long amount);       /* legitimate: adds to its data secret and returns it */
long victim_data_address(void);     /* leaks: its data secret */
long victim_heap_address(void);     /* leaks: its heap secret (malloc'd in its compartment) */
long victim_stack_address(void);    /* leaks: a slot in its stack (the monitor's per-thread stack for it) */
long victim_internal_address(void); /* leaks: victim_internal, an exported function that is not a gate */
long victim_internal(void);         /* (not a gate: other compartments' lookup does not see it) */

/* libevil.so (evil.c): each gate tries one thing with what it is given; a crossing that is unwound returns
 * TWZ_EFAULT to the caller instead of its normal result. */
long evil_ping(void);                           /* legitimate: counts its calls in a thread-local */
long evil_read(long address);                   /* *(long *)address */
long evil_write(long address, long value);      /* *(long *)address = value; returns 0 */
long evil_call(long address);                   /* ((long (*)(long))address)(0) */
long evil_tail_call(long address);              /* return ((long (*)(long))address)(0): a jmp */
long evil_forge_enter(long gate);               /* push a return address not after a call, jmp to gate */
long evil_jump(long target);                    /* jmp target: leave the crossing other than by returning */
long evil_ret_to(long target);                  /* overwrite its own return slot with target, then ret */
long evil_call_on_stack(long stack, long gate); /* rsp = stack, then call gate */
long evil_write_text(void);                     /* store into its own code */
long evil_exec_data(void);                      /* call into its own data object */
long evil_exec_stack(void);                     /* call into a buffer on its stack */
long evil_exec_heap(void);                      /* call into a buffer on its heap */
long evil_move_tp(long where);                  /* wrfsbase where */
long evil_trap(long how);                       /* 0 syscall (WRITE), 1 sysenter, 2 int $0x80, 3 in, 4 out */
long evil_out_escape(void);                     /* out, then write through rbx and jmp to the caller */
long evil_peek_regs(void);                      /* OR of rax, rbx, rbp, r10-r15 on entry */
long evil_peek_vregs(void);                     /* OR of xmm0-xmm15 (low halves) on entry */
long evil_leave_regs(void);                     /* fills rcx-r11 and xmm0-xmm15 with 0xe51, returns 0 */
long evil_peek_args(void);                      /* OR of rdi, rsi, rdx, rcx, r8, r9 on entry: it takes none */
long evil_peek_other_args(long first);          /* OR of rsi, rdx, rcx, r8, r9 on entry, or first if that is 0 */
long evil_peek_x87(void);                       /* OR of the mantissas of st0-st7 on entry (fxsave) */
long evil_peek_fpu_control(void);               /* x87 control word << 32 | MXCSR on entry */
long evil_leave_fpu(void);                      /* pushes 0x5ec2e7 on the x87 stack, sets FPCW 0x7f and MXCSR 0x3f */

/* Floating-point state, for regs.c and libevil: the x87 registers (whatever their tags say), the control
 * words, and ways to set them. gcc uses neither x87 nor MXCSR in the code between these and a gate call. */
static inline unsigned long x87_mantissas(void)
{
    unsigned char area[512] __attribute__((aligned(16)));
    __asm__ volatile("fxsave64 %0" : "=m"(area));
    unsigned long bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= *(unsigned long *)(area + 32 + 16 * i);
    return bits;
}
static inline unsigned long fpu_control(void)
{
    unsigned short cw;
    unsigned int csr;
    __asm__ volatile("fnstcw %0\n\tstmxcsr %1" : "=m"(cw), "=m"(csr));
    return (unsigned long)cw << 32 | csr;
}
static inline void set_fpu_control(unsigned short cw, unsigned int csr)
{
    __asm__ volatile("fldcw %0\n\tldmxcsr %1" : : "m"(cw), "m"(csr));
}
static inline void push_x87(long value) { __asm__ volatile("fildq %0" : : "m"(value)); }

/* Every attack program registers this: a program killed by a violation runs no atexit handler (DESIGN.md
 * "What a violation does"), so "atexit ran" on stdout means it was not killed. */
static inline void attack_atexit(void) { printf("atexit ran\n"); }

#define VICTIM_VALUE 0x5ec2e7L /* what victim_value() answers while nobody has disturbed the victim */

/* After an attack that must have been unwound: the victim and the attacker still answer correctly. */
static inline void still_fine(void)
{
    printf("victim still: %#lx, evil still: %ld\n", victim_value(), evil_ping());
}

#endif
