/* Twizzler objects for guests: create, map, unmap, invariant pointers between objects, and the naming service
 * (twzemu/monitor/objects.py serves them). Each function fails with -1 (NULL for a pointer) and sets errno:
 * EACCES for a request beyond the compartment's rights (never a fault), ENOENT for no such object or name, EINVAL
 * for a bad argument, ENOSPC when too many objects are mapped, EBUSY for a map that would make an object writable
 * in one compartment while executable in another.
 *
 * Who may map an object: the compartment that created it (any rights but writable and executable at once), or a
 * compartment given it with `twzemu run --grant COMPARTMENT=NAME:PERMS` (only PERMS). An object added with `twzemu
 * store put` belongs to no compartment. */
#ifndef _TWZ_OBJECT_H
#define _TWZ_OBJECT_H

#include <stddef.h>

/* A 128-bit object id, as `twzemu store ls` prints it (0x, then hi and lo in 32 hex digits). */
typedef struct twz_objid {
    unsigned long hi, lo;
} twz_objid;

/* Lifetimes: a volatile object vanishes with the run; a persistent one is kept in the store (`--store DIR`),
 * written back when the run ends. */
#define TWZ_OBJ_VOLATILE 0
#define TWZ_OBJ_PERSISTENT 1

/* Rights of a mapping (READ always; WRITE and EXEC never together). */
#define TWZ_MAP_READ 1
#define TWZ_MAP_WRITE 2
#define TWZ_MAP_EXEC 4

/* A mapping starts at the object's offset 0, which is never mapped (a null page): data starts at
 * TWZ_OBJ_DATA and may take TWZ_OBJ_DATA_SIZE bytes; the FOT and the metadata lie above. */
#define TWZ_OBJ_DATA 0x1000UL
#define TWZ_OBJ_DATA_SIZE (0x20000000UL - TWZ_OBJ_DATA)

/* A new object (lifetime TWZ_OBJ_VOLATILE or TWZ_OBJ_PERSISTENT), owned by this compartment: its id in *id. */
int twz_object_create(int lifetime, twz_objid *id);

/* Map object *id with rights prot into this compartment: the object's base address (its data at base +
 * TWZ_OBJ_DATA). Mapping an object mapped already gives the same base, with the new rights. */
void *twz_object_map(const twz_objid *id, int prot);

/* Unmap what twz_object_map mapped at base. Its bytes stay in the object. */
int twz_object_unmap(void *base);

/* Store at field (8-byte aligned, in the data of a mapped object A this compartment may write) an invariant
 * pointer to target (in a mapped object B; NULL for a null pointer): it names B through A's FOT, so it stays valid
 * wherever A and B are mapped later, in this run or another. */
int twz_ptr_store(void *field, const void *target);

/* The address the invariant pointer at field names (its object mapped, with this compartment's rights, if it
 * was not); NULL for a null pointer, or with errno set. */
void *twz_ptr_load(const void *field);

/* The naming service: names of the store, kept across runs with --store. */
int twz_name_put(const char *name, const twz_objid *id); /* a new name for an object this compartment may map */
int twz_name_get(const char *name, twz_objid *id);       /* the object name names */
int twz_name_remove(const char *name);                   /* a name put for an object this compartment owns */
/* The names of the objects this compartment may map, each NUL-terminated, one after another, in buffer (as much as
 * fits in size bytes): the bytes they take. */
long twz_name_list(char *buffer, size_t size);

#endif
