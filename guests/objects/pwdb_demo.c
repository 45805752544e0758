/* The password example across runs: the service keeps its database in a persistent object granted to it alone;
 * this program (untrusted) uses the service and cannot map the database itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>

long pwdb_runs(void);
long pwdb_check(long user);
long pwdb_set(long user);

static long with_password(long (*gate)(long), long user, const char *password)
{
    strcpy(twz_gate_buffer(), password);
    return gate(user);
}

int main(void)
{
    long runs = pwdb_runs();
    if (runs < 0) {
        printf("the password service has no database (twzemu run --grant libpwdb.so=passwd.db:rw)\n");
        return 1;
    }
    printf("the password service opened its database: run %ld\n", runs);
    if (with_password(pwdb_check, 1, "correct horse"))
        printf("alice's password is still the one an earlier run set\n");
    else
        printf("set alice's password: %ld\n", with_password(pwdb_set, 1, "correct horse"));
    printf("check alice/correct horse: %ld\n", with_password(pwdb_check, 1, "correct horse"));
    printf("check alice/hunter2: %ld\n", with_password(pwdb_check, 1, "hunter2"));
    twz_objid id;
    if (twz_name_get("passwd.db", &id) == 0) {
        void *base = twz_object_map(&id, TWZ_MAP_READ);
        printf("the program maps the database itself: %s\n", base ? "mapped" : strerror(errno));
    }
    return 0;
}
