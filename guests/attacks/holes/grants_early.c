/* libgearly: its gate is declared at level callee, and its constructor reads the program's data object (slot 3,
 * past the null page) before anyone called it: no crossing lives, so it sees nothing of anyone. */
#include "holes.h"

__attribute__((constructor)) static void peek(void)
{
    (void)*(volatile long *)0xC0001000L;
}

long gearly_ok(void)
{
    return 1;
}
TWZ_GATE_LEVEL(gearly_ok, TWZ_ISOLATE_CALLEE);
