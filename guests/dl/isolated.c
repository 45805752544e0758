/* dlopen of a library that declares gates (guests/dl/vault.c, tests/test_dlopen.py): it is a compartment of its
 * own, made at run time; dlsym finds its gates and nothing else; threads call it at once. With an argument, the
 * program attacks it: "read" reads its data by address, "call" calls a function of it that is not a gate; "peek"
 * hands a gate a pointer into the program's own stack. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static long (*deposit)(long);

static void *depositor(void *arg)
{
    long sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += deposit(1) - 0x5ec2e7;
    return (void *)sum;
}

int main(int argc, char **argv)
{
    void *vault = dlopen("libvault.so", RTLD_NOW);
    if (!vault) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    deposit = (long (*)(long))dlsym(vault, "vault_deposit");
    long (*peek)(const long *) = (long (*)(const long *))dlsym(vault, "vault_peek");
    printf("gates %s, non-gate %s\n", deposit && peek ? "found" : "missing", dlsym(vault, "vault_leak") ? "found" : "not found");
    printf("deposit %lx\n", deposit(1));
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&threads[i], 0, depositor, 0);
    long total = 0;
    for (int i = 0; i < 3; i++) {
        void *sum;
        pthread_join(threads[i], &sum);
        total += (long)sum;
    }
    printf("three threads deposited %ld\n", total);
    void *again = dlopen("libvault.so", RTLD_NOW);
    printf("opened again: the same handle %d\n", again == vault);
    dlclose(again);
    fflush(stdout);
    unsigned long text = (unsigned long)deposit & ~((1UL << 30) - 1);
    const char *attack = argc > 1 ? argv[1] : "";
    if (!strcmp(attack, "read"))
        printf("its secret %lx\n", *(volatile long *)(text + (1UL << 30) + 0x1000));
    if (!strcmp(attack, "call"))
        printf("its leak %p\n", ((long *(*)(void))((char *)deposit + 0x30))());
    if (!strcmp(attack, "peek")) {
        long mine = 42;
        printf("peek %ld\n", peek(&mine));
    }
    return dlclose(vault);
}
