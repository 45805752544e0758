/* libpair: a library granted "secret" read-only. Gates at two levels: see_* run in the pair space (it sees its
 * caller), full_* in its own. The monitor maps/unmaps a compartment's objects only in its own space and the
 * space it runs in now, so the pair space keeps a stale mapping that a later map "re-protects". */
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>

static char *secret_base;

long see_map_secret(void)
{
    twz_objid id;
    if (twz_name_get("secret", &id))
        return -errno;
    secret_base = twz_object_map(&id, TWZ_MAP_READ);
    return secret_base ? (long)secret_base : -errno;
}
TWZ_GATE_LEVEL(see_map_secret, TWZ_ISOLATE_NONE);

long full_try_rw(void)
{
    twz_objid id;
    if (twz_name_get("secret", &id))
        return -errno;
    return twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE) ? 1 : -errno; /* must be EACCES */
}
TWZ_GATE(full_try_rw);

static twz_objid mine;
long full_swap(void)
{
    if (twz_object_unmap(secret_base))
        return -errno;
    if (twz_object_create(TWZ_OBJ_VOLATILE, &mine))
        return -errno;
    char *b = twz_object_map(&mine, TWZ_MAP_READ | TWZ_MAP_WRITE);
    return b ? (long)b : -errno;
}
TWZ_GATE(full_swap);

long see_write(void)
{
    char *b = twz_object_map(&mine, TWZ_MAP_READ | TWZ_MAP_WRITE);
    if (!b)
        return -errno;
    if (b != secret_base)
        return -1000;
    memcpy(b + TWZ_OBJ_DATA, "PWNED by libpair", 17); /* writes into "secret" if the pair space still maps it */
    return 1;
}
TWZ_GATE_LEVEL(see_write, TWZ_ISOLATE_NONE);
