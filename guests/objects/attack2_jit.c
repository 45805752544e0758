/* libjit: writes code into its own object and runs it (rw mapping, then rx: the monitor retranslates).
 * Page 2 of the object is touched between so no page faults twice in a row (twzemu's progress check). */
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>

static twz_objid code;
static char *base;

long setup(void)
{
    if (twz_object_create(TWZ_OBJ_VOLATILE, &code))
        return -errno;
    base = twz_object_map(&code, TWZ_MAP_READ | TWZ_MAP_WRITE);
    return base ? 0 : -errno;
}
TWZ_GATE(setup);

/* write "mov eax, value; ret" at data, then map rx */
long emit(long value)
{
    if (twz_object_map(&code, TWZ_MAP_READ | TWZ_MAP_WRITE) != base)
        return -errno;
    base[TWZ_OBJ_DATA + 0x1000] = 1;
    unsigned char prog[6] = {0xb8, 0, 0, 0, 0, 0xc3};
    memcpy(prog + 1, &value, 4);
    memcpy(base + TWZ_OBJ_DATA, prog, sizeof prog);
    if (twz_object_map(&code, TWZ_MAP_READ | TWZ_MAP_EXEC) != base)
        return -errno;
    return *(volatile char *)(base + TWZ_OBJ_DATA + 0x1000) - 1;
}
TWZ_GATE(emit);

long run(void) { return ((long (*)(void))(base + TWZ_OBJ_DATA))(); }
TWZ_GATE(run);

/* the immediate as memory holds it */
long peek(void) { int v; memcpy(&v, base + TWZ_OBJ_DATA + 1, 4); return v; }
TWZ_GATE(peek);
