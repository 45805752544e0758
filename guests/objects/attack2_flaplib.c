/* libflap: an isolated library that remaps its own object and touches the same page after each map. */
#include <errno.h>
#include <twz.h>
#include <twz/object.h>

long flap(long rounds)
{
    twz_objid id;
    if (twz_object_create(TWZ_OBJ_VOLATILE, &id))
        return -errno;
    for (long i = 0; i < rounds; i++) {
        volatile char *b = twz_object_map(&id, (i & 1) ? TWZ_MAP_READ : TWZ_MAP_READ | TWZ_MAP_WRITE);
        if (!b)
            return -errno;
        if (i & 1)
            (void)b[TWZ_OBJ_DATA];
        else
            b[TWZ_OBJ_DATA] = 1;
    }
    return rounds;
}
TWZ_GATE(flap);
