/* <twz/object.h> from a program (tests/test_guest_objects.py): objects made, mapped, unmapped and mapped again
 * elsewhere, an invariant pointer that survives it, names, refusals, and an isolated library (libthief.so) trying
 * to reach the program's objects. `objects again` is a second run against the same store: what persisted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>

long thief_map(long prot);
long thief_forge(void);
long thief_names(void);

static const char *err(long result)
{
    static char text[64];
    if (result >= 0)
        snprintf(text, sizeof text, "%ld", result);
    else
        snprintf(text, sizeof text, "-1 %s", strerror(errno));
    return text;
}

/* What a gate answered: -errno of a refusal, or what it returned. */
static const char *answer(long result)
{
    return result < 0 ? strerror((int)-result) : "it worked (isolation broken!)";
}

static void send_id(const twz_objid *id)
{
    memcpy(twz_gate_buffer(), id, sizeof *id);
}

static int again(void)
{
    twz_objid id;
    printf("get kept: %s\n", err(twz_name_get("kept", &id)));
    char *b = twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE);
    printf("map kept: %s\n", b ? "ok" : err(-1));
    if (!b)
        return 1;
    printf("kept says: %s\n", b + TWZ_OBJ_DATA);
    char **field = (char **)(b + TWZ_OBJ_DATA + 64);
    char *self = twz_ptr_load(field);
    printf("its pointer to itself: %s\n", self == b + TWZ_OBJ_DATA ? "resolves" : "wrong");
    printf("get scratch (a volatile object's name): %s\n", err(twz_name_get("scratch", &id)));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "again"))
        return again();
    twz_objid a, b;
    printf("create: %s", err(twz_object_create(TWZ_OBJ_VOLATILE, &a)));
    printf(" %s\n", err(twz_object_create(TWZ_OBJ_PERSISTENT, &b)));
    char *pa = twz_object_map(&a, TWZ_MAP_READ | TWZ_MAP_WRITE);
    char *pb = twz_object_map(&b, TWZ_MAP_READ | TWZ_MAP_WRITE);
    printf("map: %s\n", pa && pb && pa != pb ? "two bases" : err(-1));
    strcpy(pb + TWZ_OBJ_DATA, "hello from B");
    void **field = (void **)(pa + TWZ_OBJ_DATA);
    printf("store A->B: %s\n", err(twz_ptr_store(field, pb + TWZ_OBJ_DATA)));
    printf("store A->A: %s\n", err(twz_ptr_store(field + 1, pa + TWZ_OBJ_DATA + 100)));
    printf("store B->B: %s\n", err(twz_ptr_store(pb + TWZ_OBJ_DATA + 64, pb + TWZ_OBJ_DATA)));
    unsigned long raw = *(unsigned long *)field, inner = *(unsigned long *)(field + 1);
    printf("fot index: %lu offset %#lx; inner index %lu\n", raw >> 48, raw & 0xffffffffffffUL, inner >> 48);
    printf("unmap: %s", err(twz_object_unmap(pa)));
    printf(" %s\n", err(twz_object_unmap(pb)));
    char *qb = twz_object_map(&b, TWZ_MAP_READ);
    char *qa = twz_object_map(&a, TWZ_MAP_READ | TWZ_MAP_WRITE);
    printf("mapped again elsewhere: %s\n", qa && qb && qa != pa && qa == pb ? "yes" : "no");
    char *to_b = twz_ptr_load(qa + TWZ_OBJ_DATA);
    printf("load A->B: %s\n", to_b ? to_b : err(-1));
    printf("load A->A: %s\n", twz_ptr_load(qa + TWZ_OBJ_DATA + 8) == qa + TWZ_OBJ_DATA + 100 ? "resolves" : "wrong");
    twz_object_unmap(qb);
    to_b = twz_ptr_load(qa + TWZ_OBJ_DATA);
    printf("load A->B with B unmapped: %s\n", to_b ? to_b : err(-1));
    printf("store into B, mapped read-only: %s\n",
           twz_object_map(&b, TWZ_MAP_READ) ? err(twz_ptr_store(to_b + 64, to_b)) : err(-1));
    printf("map W+X: %s\n", twz_object_map(&a, TWZ_MAP_WRITE | TWZ_MAP_EXEC | TWZ_MAP_READ) ? "mapped" : err(-1));
    twz_objid nobody = {0x1234, 0x5678};
    printf("map an unknown id: %s\n", twz_object_map(&nobody, TWZ_MAP_READ) ? "mapped" : err(-1));
    printf("unmap what is not mapped: %s\n", err(twz_object_unmap((void *)0x80000000)));
    static long global;
    printf("store outside an object: %s\n", err(twz_ptr_store(&global, qa)));
    printf("store to a non-object: %s\n", err(twz_ptr_store(qa + TWZ_OBJ_DATA + 16, &global)));
    printf("put kept: %s\n", err(twz_name_put("kept", &b)));
    printf("put kept again: %s\n", err(twz_name_put("kept", &a)));
    printf("put scratch: %s\n", err(twz_name_put("scratch", &a)));
    printf("put a reserved name: %s\n", err(twz_name_put("file:/etc/passwd", &a)));
    twz_objid got;
    printf("get kept: %s", err(twz_name_get("kept", &got)));
    printf(", %s\n", got.hi == b.hi && got.lo == b.lo ? "the same id" : "another id");
    char names[256];
    long size = twz_name_list(names, sizeof names);
    printf("list:");
    for (long at = 0; at < size && at < (long)sizeof names; at += strlen(names + at) + 1)
        printf(" %s", names + at);
    printf("\n");
    printf("put temp: %s", err(twz_name_put("temp", &a)));
    printf(", remove temp: %s", err(twz_name_remove("temp")));
    printf(", get temp: %s\n", err(twz_name_get("temp", &got)));
    send_id(&a);
    printf("thief maps A: %s\n", answer(thief_map(TWZ_MAP_READ)));
    send_id(&a);
    printf("thief forges a FOT entry to A: %s\n", answer(thief_forge()));
    printf("thief at the names: %s\n", answer(thief_names()));
    return 0;
}
