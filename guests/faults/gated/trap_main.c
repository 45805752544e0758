/* trapcall int N [COUNT]: calls libtrap's gate trap_int(N) COUNT times (N: 0..255, `int3`, or `all`: every
 * vector 0..255 in turn, COUNT times each);
 * trapcall touch MIB: calls trap_touch(MIB) once.
 * Then it says what the calls returned and that libtrap still answers: a fault in a callee ends that call only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <twz.h>

#include "../traps.h"

long trap_int(long n);
long trap_touch(long mib);
long trap_ok(void);

static long run_ints(long n, long count)
{
    long efault = 0;
    for (long i = 0; i < count; i++)
        efault += trap_int(n) == TWZ_EFAULT;
    return efault;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    /* Everything printed below is printed once first, so that after the callee has filled RAM the program
     * touches no page it has not touched before. */
    printf("libtrap answers %ld\n", trap_ok());
    if (strcmp(argv[1], "int") == 0) {
        long count = argc > 3 ? strtol(argv[3], 0, 0) : 1, efault = 0, calls = count;
        if (strcmp(argv[2], "all") == 0) {
            for (long n = 0; n < 256; n++)
                efault += run_ints(n, count);
            calls = 256 * count;
        } else {
            efault = run_ints(strcmp(argv[2], "int3") == 0 ? TRAP_INT3 : strtol(argv[2], 0, 0), count);
        }
        printf("%ld of %ld calls returned TWZ_EFAULT\n", efault, calls);
    } else if (strcmp(argv[1], "touch") == 0) {
        printf("trap_touch returned %ld\n", trap_touch(strtol(argv[2], 0, 0)));
    } else {
        return 2;
    }
    printf("libtrap answers %ld\n", trap_ok());
    return 0;
}
