/* trap_table: 257 entries of 4 bytes. Entry n (0..255) is `int $n; ret` (CD n C3, then a nop), entry 256 the
 * one-byte breakpoint `int3; ret`. trap(n) calls entry n, so a test can raise any vector from C. */
#ifndef TRAPS_H
#define TRAPS_H

#define TRAP_INT3 256

__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".type trap_table, @function\n"
        "trap_table:\n"
        ".set trap_vector, 0\n"
        ".rept 256\n"
        ".byte 0xcd, trap_vector, 0xc3, 0x90\n"
        ".set trap_vector, trap_vector + 1\n"
        ".endr\n"
        ".byte 0xcc, 0xc3, 0x90, 0x90\n"
        ".size trap_table, . - trap_table\n"
        ".popsection\n");

extern const char trap_table[] __attribute__((visibility("hidden")));

static inline void trap(long n)
{
    ((void (*)(void))(trap_table + 4 * n))();
}

#endif
