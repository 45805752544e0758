/* Attack 5: a callee that returns anywhere but the call site. libevil's gate is handed a code address of the
 * program and jumps there, or overwrites its own return slot (which holds the monitor's return point) with it
 * and returns.
 *   escape          both attempts, each unwound (TWZ_EFAULT), and the program goes on
 * Rule: the only way back is the monitor's return point; the caller's text is not mapped in the callee's
 * compartment -> `execute` violation inside the crossing, unwound. */
#include "attacks.h"

static void landing(void)
{
    printf("escaped into the program\n"); /* never */
    exit(99);
}

/* The address just after its call instruction in the caller: a real return site of the program. */
__attribute__((noinline)) static long return_site(void)
{
    return (long)__builtin_return_address(0);
}

int main(void)
{
    atexit(attack_atexit);
    printf("library jumps into the program: %ld\n", evil_jump((long)landing));
    still_fine();
    printf("library returns into the program: %ld\n", evil_ret_to((long)landing));
    still_fine();
    printf("library returns to a call site of the program: %ld\n", evil_ret_to(return_site()));
    still_fine();
    return 0;
}
