/* A loop of no-op monitor service calls: each is a crossing into compartment 0, whose gate code makes the
 * hypercall, and back. */
#include <twz.h>

int main(void)
{
    for (long i = 0; i < HYPERCALLS; i++)
        twz_monitor_nop();
    return 0;
}
