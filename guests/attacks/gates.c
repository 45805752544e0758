/* gates (tests/test_link_attacks.py): a program that loads libgates.so (evil_gates.S) and calls its legitimate
 * gate. With the honest build it prints `gates_ok 42`; with a build that has a bad gate record it must never
 * start: the linker refuses the library. */
#include <stdio.h>

long gates_ok(void);

int main(void)
{
    printf("gates_ok %ld\n", gates_ok());
    return 0;
}
