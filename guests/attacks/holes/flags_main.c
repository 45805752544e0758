/* Hole 4: nothing of one side's RFLAGS or x87 pointers reaches the other side of a gate. */
#include <stdio.h>
#include "holes.h"

#define DF (1L << 10)
#define AC (1L << 18)
#define TF (1L << 8)
#define ARITHMETIC 0x8d5L /* CF PF AF ZF SF OF */

/* Call gate with DF, AC and CF set (as a caller may leave them), and return its result. */
static long call_dirty(long (*gate)(void))
{
    long result;
    __asm__ volatile("pushfq\n\t"
                     "orq $0x40001, (%%rsp)\n\t" /* AC and CF */
                     "popfq\n\t"
                     "std\n\t"
                     "call *%1\n\t"
                     "cld\n\t"
                     : "=a"(result)
                     : "r"(gate)
                     : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
    return result;
}

/* Call gate and return the flags right after it returns. */
static long flags_after(long (*gate)(void))
{
    long flags;
    __asm__ volatile("call *%1\n\t"
                     "pushfq\n\t"
                     "pop %0\n\t"
                     "cld\n\t"
                     : "=r"(flags)
                     : "r"(gate)
                     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
    return flags;
}

static long fpu_pointers(void)
{
    unsigned int env[7];
    __asm__ volatile("fnstenv %0" : "=m"(env));
    return (long)env[3] | (long)env[5]; /* FIP, FDP (32-bit format) */
}

static double mine = 2.5;

int main(void)
{
    long seen = call_dirty(gflags_seen);
    printf("callee starts with DF %s, AC %s, TF %s, arithmetic flags %s\n", seen & DF ? "set" : "clear",
           seen & AC ? "set" : "clear", seen & TF ? "set" : "clear", seen & ARITHMETIC ? "set" : "clear");
    long after = flags_after(gflags_dirty);
    printf("caller gets DF %s, AC %s, arithmetic flags %s\n", after & DF ? "set" : "clear",
           after & AC ? "set" : "clear", after & ARITHMETIC ? "set" : "clear");
    __asm__ volatile("fldl %0\n\tfstp %%st(0)" : : "m"(mine));
    printf("callee sees x87 pointers: %s\n", gflags_fpu_seen() ? "yes" : "none");
    gflags_fpu_dirty();
    printf("caller sees x87 pointers after the call: %s\n", fpu_pointers() ? "yes" : "none");
    return 0;
}
