/* libpwdb: RFC 0008's password service with its database where the RFC puts it, in an object of its own: a
 * persistent object of the store, named passwd.db, that only this library's compartment may map (`twzemu run
 * --grant libpwdb.so=passwd.db:rw`). Nothing of it lies in the library's image: it outlives the run. Passwords cross
 * in the gate buffer, by value. */
#include <string.h>
#include <twz.h>
#include <twz/object.h>

#define USERS 8

struct database {
    long runs; /* how many runs opened it */
    long users[USERS];
    unsigned long hashes[USERS];
};

static struct database *db;

static unsigned long hash_of(const char *password)
{
    unsigned long hash = 1469598103934665603UL; /* FNV-1a */
    for (; *password; password++)
        hash = (hash ^ (unsigned char)*password) * 1099511628211UL;
    return hash;
}

/* The database, mapped on first use: NULL without the grant. */
static struct database *database(void)
{
    if (!db) {
        twz_objid id;
        char *base;
        if (twz_name_get("passwd.db", &id) || !(base = twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE)))
            return 0;
        db = (struct database *)(base + TWZ_OBJ_DATA);
        db->runs++;
    }
    return db;
}

static const char *buffer_password(void)
{
    static char password[TWZ_GATE_BUFFER_SIZE];
    memcpy(password, twz_gate_buffer(), sizeof password - 1);
    password[sizeof password - 1] = 0;
    return password;
}

static long slot_of(struct database *d, long user)
{
    for (int i = 0; i < USERS; i++)
        if (d->users[i] == user)
            return i;
    return -1;
}

/* How many runs opened the database, this one included; TWZ_EPERM without it. */
long pwdb_runs(void)
{
    struct database *d = database();
    return d ? d->runs : TWZ_EPERM;
}
TWZ_GATE(pwdb_runs);

/* 1 if the password in the gate buffer is user's, 0 if not. */
long pwdb_check(long user)
{
    struct database *d = database();
    long i = d && user ? slot_of(d, user) : -1;
    return i >= 0 && d->hashes[i] == hash_of(buffer_password());
}
TWZ_GATE(pwdb_check);

/* Sets user's password to the one in the gate buffer; only the program (compartment 1) may. */
long pwdb_set(long user)
{
    struct database *d = database();
    if (!d || !user || twz_caller_compartment() != 1)
        return TWZ_EPERM;
    long i = slot_of(d, user);
    if (i < 0)
        i = slot_of(d, 0);
    if (i < 0)
        return TWZ_EPERM;
    d->users[i] = user;
    d->hashes[i] = hash_of(buffer_password());
    return 0;
}
TWZ_GATE(pwdb_set);
