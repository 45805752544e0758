/* libbroken: an isolated library whose constructor faults: the compartment fails to initialise, its gates
 * answer TWZ_EPERM, and the program runs on. */
#include <twz.h>

long broken_answer(void)
{
    return 42;
}
TWZ_GATE(broken_answer);

long *volatile nowhere; /* stays 0, but the compiler cannot know: the store goes to the null page */

__attribute__((constructor)) static void broken_init(void)
{
    nowhere[1] = 1;
}
