/* The RFC's example: an untrusted program uses an isolated password service and an untrusted plugin. */
#include <stdio.h>
#include <string.h>
#include <twz.h>

long passwd_check(long user);
long passwd_set(long user);
long passwd_database(void);
long plugin_run(long attack, long database);

static void show(const char *what, long result)
{
    if (result == TWZ_EFAULT)
        printf("%s: TWZ_EFAULT (stopped by the monitor)\n", what);
    else
        printf("%s: %#lx\n", what, result);
}

static long check(long user, const char *password)
{
    strcpy(twz_gate_buffer(), password);
    return passwd_check(user);
}

static long set(long user, const char *password)
{
    strcpy(twz_gate_buffer(), password);
    return passwd_set(user);
}

int main(int argc, char **argv)
{
    int all_attacks = argc < 2;
    printf("set alice's password: %ld\n", set(1, "correct horse"));
    printf("check alice/correct horse: %ld\n", check(1, "correct horse"));
    printf("check alice/hunter2: %ld\n", check(1, "hunter2"));
    long database = passwd_database();
    show("plugin reads the database", plugin_run(1, database));
    show("plugin overwrites the database", plugin_run(2, database));
    if (all_attacks) {
        show("plugin jumps past a gate", plugin_run(3, database));
        show("plugin forges a return address", plugin_run(4, database));
    }
    printf("after the plugin, check alice/correct horse: %ld\n", check(1, "correct horse"));
    return 0;
}
