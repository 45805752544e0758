/* libthief: an isolated library that tries to reach objects of its caller's (tests/test_guest_objects.py). Each
 * gate answers -errno of the refusal, or 1 if the attack worked. */
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>

static twz_objid received(void)
{
    twz_objid id;
    memcpy(&id, twz_gate_buffer(), sizeof id);
    return id;
}

long thief_map(long prot)
{
    twz_objid id = received();
    return twz_object_map(&id, prot) ? 1 : -errno;
}
TWZ_GATE(thief_map);

/* Its own object, a FOT entry in it naming the victim, an invariant pointer through the entry, then a load. */
long thief_forge(void)
{
    twz_objid victim = received(), mine;
    if (twz_object_create(TWZ_OBJ_VOLATILE, &mine))
        return -errno;
    char *base = twz_object_map(&mine, TWZ_MAP_READ | TWZ_MAP_WRITE);
    if (!base)
        return -errno;
    unsigned long *meta = (unsigned long *)(base + 0x3ffff000);
    unsigned long *entry = (unsigned long *)(base + 0x3ffff000 - 2 * 32);
    entry[0] = victim.hi;
    entry[1] = victim.lo;
    entry[2] = 0;
    entry[3] = 3; /* allocated, active */
    ((unsigned short *)meta)[18] = 1; /* fotcount */
    unsigned long *field = (unsigned long *)(base + TWZ_OBJ_DATA);
    *field = 1UL << 48 | 0x1000;
    return twz_ptr_load(field) ? 1 : -errno;
}
TWZ_GATE(thief_forge);

/* Names: remove the caller's, or name the caller's object for itself (both refused: -EACCES). */
long thief_names(void)
{
    if (twz_name_remove("kept") == 0)
        return 1;
    if (errno != EACCES)
        return -errno;
    twz_objid id;
    if (twz_name_get("kept", &id))
        return -errno;
    return twz_name_put("mine", &id) == 0 ? 1 : -errno;
}
TWZ_GATE(thief_names);
