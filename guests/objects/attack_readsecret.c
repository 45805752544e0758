/* reads "secret" (run with --grant readsecret=secret:r) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <twz/object.h>
int main(void)
{
    twz_objid id;
    if (twz_name_get("secret", &id)) { printf("get: %s\n", strerror(errno)); return 1; }
    char *b = twz_object_map(&id, TWZ_MAP_READ);
    if (!b) { printf("map: %s\n", strerror(errno)); return 1; }
    printf("secret says: %.40s\n", b + TWZ_OBJ_DATA);
    return 0;
}
