/* libgrearly: its constructor calls a gate of the program, before the program's own constructors ran. */
#include "redteam.h"

static long saw = -2;

__attribute__((constructor)) static void start(void)
{
    saw = prog_ready();
}

long early_saw(void)
{
    return saw;
}
TWZ_GATE(early_saw);
