/* Attack 3: call into another compartment anywhere but a gate entry, through a function pointer.
 *   call               controls first: a function pointer to a gate works from the program and from libevil;
 *                      then libevil calls victim_internal (exported, not a gate) and victim_add + 4 (the
 *                      middle of a gate): both unwound (TWZ_EFAULT)
 *   call internal|middle   ... then the program does the same: killed (status 139)
 *   call tail          only a control: libevil tail-calls a gate through a pointer (a jmp), which must work
 * Rule: the victim's text is not executable here; a fetch fault that is not exactly a gate entry is an
 * `execute` violation. */
#include <string.h>

#include "attacks.h"

int main(int argc, char **argv)
{
    long (*volatile gate)(long) = victim_add;
    long internal = victim_internal_address();
    long middle = (long)victim_add + 4;

    atexit(attack_atexit);
    if (argc > 1 && strcmp(argv[1], "tail") == 0) { /* a control apart: see evil_tail_call */
        printf("library tail-calls a gate through a pointer: %#lx\n", evil_tail_call((long)victim_add));
        still_fine();
        return 0;
    }
    printf("program calls a gate through a pointer: %#lx\n", gate(0));
    printf("library calls a gate through a pointer: %#lx\n", evil_call((long)victim_add));
    printf("library calls victim_internal: %ld\n", evil_call(internal));
    still_fine();
    printf("library calls the middle of a gate: %ld\n", evil_call(middle));
    still_fine();
    if (argc > 1) {
        int in = strcmp(argv[1], "internal") == 0;
        printf("program calls %s\n", in ? "victim_internal" : "the middle of a gate");
        long got = in ? ((long (*)(void))internal)() : ((long (*)(long))middle)(1);
        printf("program got through: %ld\n", got); /* never */
    }
    return 0;
}
