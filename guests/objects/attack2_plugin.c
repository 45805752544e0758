/* libplugin: a plugin with a gate that tries to read safe-db */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>
long plugin_run(void)
{
    twz_objid id;
    if (twz_name_get("safe-db", &id))
        return -errno;
    char *b = twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE);
    if (!b)
        return -errno;
    printf("plugin read: %s\n", b + TWZ_OBJ_DATA);
    strcpy(b + TWZ_OBJ_DATA, "overwritten by the plugin");
    return 1;
}
TWZ_GATE(plugin_run);
