/* reads "config", which the administrator granted it (--grant victim=config:r) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <twz/object.h>
int main(void)
{
    twz_objid id;
    if (twz_name_get("config", &id)) { printf("get: %s\n", strerror(errno)); return 1; }
    char *b = twz_object_map(&id, TWZ_MAP_READ);
    printf("victim reads config: %s\n", b ? b + TWZ_OBJ_DATA : strerror(errno));
    return 0;
}
