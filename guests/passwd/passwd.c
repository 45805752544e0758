/* libpasswd: an isolated password service (RFC 0008's example). The database lives in this library's data
 * object, which only its compartment maps: other compartments can reach it only through the gates below.
 * Passwords cross in the per-thread gate buffer, by value. */
#include <string.h>
#include <twz.h>

#define USERS 4

struct entry {
    long user;
    unsigned long hash;
};

static struct entry database[USERS];

static unsigned long hash_of(const char *password)
{
    unsigned long hash = 1469598103934665603UL;  /* FNV-1a */
    for (; *password; password++)
        hash = (hash ^ (unsigned char)*password) * 1099511628211UL;
    return hash;
}

static struct entry *find(long user)
{
    for (int i = 0; i < USERS; i++)
        if (database[i].user == user)
            return &database[i];
    return 0;
}

/* The password the caller sent in the gate buffer, copied out (a received message is read-only: writing to it
 * would start a new, empty one). */
static const char *buffer_password(void)
{
    static char password[TWZ_GATE_BUFFER_SIZE];
    memcpy(password, twz_gate_buffer(), sizeof password - 1);
    password[sizeof password - 1] = 0;
    return password;
}

/* 1 if the password in the gate buffer is user's, 0 if not. */
long passwd_check(long user)
{
    struct entry *entry = find(user);
    return entry && entry->hash == hash_of(buffer_password());
}
TWZ_GATE(passwd_check);

/* Sets user's password to the one in the gate buffer; only the program (compartment 1) may — or, when the
 * library is not isolated, plain calls from its own compartment (no gate: caller -1). */
long passwd_set(long user)
{
    long caller = twz_caller_compartment();
    if (caller != 1 && caller != -1)
        return TWZ_EPERM;
    struct entry *entry = find(user);
    if (!entry)
        entry = find(0);
    if (!entry)
        return TWZ_EPERM;
    entry->user = user;
    entry->hash = hash_of(buffer_password());
    return 0;
}
TWZ_GATE(passwd_set);

/* A careless debugging gate that leaks where the database is: knowing it must not help anyone. */
long passwd_database(void)
{
    return (long)database;
}
TWZ_GATE(passwd_database);
