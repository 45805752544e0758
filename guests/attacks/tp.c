/* Attack 9: move the thread pointer (fs) — to another compartment's data — with wrfsbase.
 *   tp              libevil does it: unwound (TWZ_EFAULT); the program's and libevil's TLS still work
 *   tp program      ... then the program does it: killed (status 139)
 * Rule: the monitor clears CR4.FSGSBASE, so wrfsbase at CPL3 is an invalid opcode: a fault, which inside a
 * crossing unwinds it and outside kills the program (`twzemu: fault: invalid opcode (wrfsbase ...)`). */
#include "attacks.h"

static __thread long mark = 0x7155;

int main(int argc, char **argv)
{
    long where = victim_data_address();

    atexit(attack_atexit);
    printf("library moves its thread pointer: %ld\n", evil_move_tp(where));
    printf("my thread-local still: %#lx\n", mark);
    still_fine();
    if (argc > 1) {
        printf("program moves its thread pointer\n");
        __asm__ volatile("wrfsbase %0" : : "r"(where));
        printf("program got through: %#lx\n", mark); /* never */
    }
    return 0;
}
