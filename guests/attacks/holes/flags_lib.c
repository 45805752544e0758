/* libgflags: gates in assembly, so that no compiled code touches the flags between the gate's entry or exit and
 * what it reports. */
#include "holes.h"

__asm__(".text\n"
        ".globl gflags_seen\n.type gflags_seen, @function\n"
        "gflags_seen:\n\tpushfq\n\tpop %rax\n\tcld\n\tret\n"
        ".size gflags_seen, .-gflags_seen\n"
        ".globl gflags_dirty\n.type gflags_dirty, @function\n"
        "gflags_dirty:\n\tpushfq\n\torq $0x40001, (%rsp)\n\tpopfq\n\tstd\n\tmovl $0, %eax\n\tret\n"
        ".size gflags_dirty, .-gflags_dirty\n");

static double own = 1.5;

long gflags_fpu_seen(void)
{
    unsigned int env[7];
    __asm__ volatile("fnstenv %0" : "=m"(env));
    return (long)env[3] | (long)env[5];
}

long gflags_fpu_dirty(void)
{
    __asm__ volatile("fldl %0\n\tfstp %%st(0)" : : "m"(own));
    return 0;
}

TWZ_GATE(gflags_seen);
TWZ_GATE(gflags_dirty);
TWZ_GATE(gflags_fpu_seen);
TWZ_GATE(gflags_fpu_dirty);
