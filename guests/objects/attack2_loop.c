/* an ordinary program: map an object, read it, unmap it, four times */
#include <stdio.h>
#include <twz/object.h>
int main(void)
{
    twz_objid id;
    if (twz_object_create(TWZ_OBJ_VOLATILE, &id))
        return 1;
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        volatile char *p = twz_object_map(&id, TWZ_MAP_READ);
        if (!p)
            return 2;
        sum += p[TWZ_OBJ_DATA];
        twz_object_unmap((void *)p);
    }
    printf("read four times: %ld\n", sum);
    return 0;
}
