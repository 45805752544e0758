/* libsafe: keeps a secret in a persistent object it owns, named safe-db */
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>
long safe_make(void)
{
    twz_objid id;
    if (twz_object_create(TWZ_OBJ_PERSISTENT, &id))
        return -errno;
    char *b = twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE);
    if (!b)
        return -errno;
    strcpy(b + TWZ_OBJ_DATA, "the safe's secret");
    return twz_name_put("safe-db", &id) ? -errno : 0;
}
TWZ_GATE(safe_make);
