/* A library that declares gates, loaded at run time by guests/dl/isolated.c: a compartment of its own, which only
 * its gates enter. Its constructor runs before the first call, its destructor at exit. */
#include <stdio.h>
#include <twz.h>

static long secret = 0x5ec2e7;
static long deposits;

__attribute__((constructor)) static void opened(void)
{
    printf("vault: constructor\n");
}

__attribute__((destructor)) static void closed(void)
{
    printf("vault: destructor after %ld deposits\n", deposits);
}

long vault_deposit(long amount)
{
    deposits++;
    return secret + amount;
}
TWZ_GATE(vault_deposit);

long vault_peek(const long *where)
{
    return *where;
}
TWZ_GATE(vault_peek);

long *vault_leak(void) /* not a gate: no other compartment may call it */
{
    return &secret;
}
