/* libginitevil: its constructor calls libginitsecret's gate; it is initialised first (it comes later in the
 * load order), so the call arrives before libginitsecret's constructor would have run. */
#include "holes.h"

static long saw;

__attribute__((constructor)) static void start(void)
{
    saw = ginitsecret_ready();
}

long ginitevil_saw(void)
{
    return saw;
}
TWZ_GATE(ginitevil_saw);
