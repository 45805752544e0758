/* libwx: one object mapped writable at one slot and executable at another, in the same page tables at once. */
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>

static twz_objid code, filler;
static char *w, *x;

long see_map_rw(void)
{
    if (twz_object_create(TWZ_OBJ_VOLATILE, &code) || twz_object_create(TWZ_OBJ_VOLATILE, &filler))
        return -errno;
    w = twz_object_map(&code, TWZ_MAP_READ | TWZ_MAP_WRITE);
    return w ? (long)w : -errno;
}
TWZ_GATE_LEVEL(see_map_rw, TWZ_ISOLATE_NONE);

long full_shuffle(void)
{
    if (twz_object_unmap(w))                             /* own page tables only */
        return -errno;
    if (!twz_object_map(&filler, TWZ_MAP_READ))           /* takes w's slot */
        return -errno;
    x = twz_object_map(&code, TWZ_MAP_READ | TWZ_MAP_EXEC); /* the next slot */
    return x ? (long)x : -errno;
}
TWZ_GATE(full_shuffle);

long see_wx(void)
{
    if (twz_object_map(&code, TWZ_MAP_READ | TWZ_MAP_EXEC) != x) /* now in the pair space too */
        return -errno;
    /* mov eax, 0x1337; ret  -- written through w, run through x, no monitor call in between */
    static const unsigned char prog[] = {0xb8, 0x37, 0x13, 0, 0, 0xc3};
    memcpy(w + TWZ_OBJ_DATA, prog, sizeof prog);
    long r = ((long (*)(void))(x + TWZ_OBJ_DATA))();
    prog[0] == 0xb8 ? (void)0 : (void)0;
    (w + TWZ_OBJ_DATA)[1] = 0x42; /* self-modify again while executable */
    return r + (((long (*)(void))(x + TWZ_OBJ_DATA))() << 16);
}
TWZ_GATE_LEVEL(see_wx, TWZ_ISOLATE_NONE);
