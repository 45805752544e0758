/* early: the program's gate prog_ready is 1 once the program's constructor ran. The first crossing into a
 * compartment runs its initialisers first (DESIGN.md "What each side sees"); the program is a compartment too. */
#include <stdio.h>

#include "redteam.h"

static long ready;

__attribute__((constructor)) static void setup(void)
{
    ready = 1;
}

long prog_ready(void)
{
    return ready;
}
TWZ_GATE(prog_ready);

int main(void)
{
    printf("the library's constructor got %ld from the program's gate\n", early_saw());
    return 0;
}
