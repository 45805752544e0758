/* Built with -soname libfilevictim.so: it would share the victim's compartment name (its files and descriptors). */
#include <twz.h>

long impostor_nothing(void)
{
    return 1;
}
TWZ_GATE(impostor_nothing);
