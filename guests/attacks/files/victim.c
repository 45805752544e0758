/* libfilevictim: an isolated library with a file of its own; libfileimpostor claims its soname. */
#include <twz.h>

long victim_nothing(void)
{
    return 0;
}
TWZ_GATE(victim_nothing);
