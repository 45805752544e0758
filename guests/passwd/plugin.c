/* libplugin: an untrusted plugin, itself isolated: the program calls it through a gate. Each attack below
 * must be stopped by the monitor with a one-line report, and the call then returns TWZ_EFAULT. */
#include <twz.h>

long passwd_check(long user);

enum attack { READ_DATABASE = 1, WRITE_DATABASE = 2, JUMP_PAST_GATE = 3, FORGE_RETURN = 4 };

long plugin_run(long attack, long database)
{
    volatile unsigned long *entries = (volatile unsigned long *)database;
    long (*past_the_gate)(long) = (long (*)(long))((char *)passwd_check + 4);
    long result;

    switch (attack) {
    case READ_DATABASE:
        return (long)entries[1];                /* the first entry's hash */
    case WRITE_DATABASE:
        entries[1] = 0;                         /* wipe the first entry's hash */
        return 0;
    case JUMP_PAST_GATE:
        return past_the_gate(1);                /* skip the gate's entry */
    case FORGE_RETURN:
        /* enter the gate with a jmp and a return address that follows no call instruction */
        __asm__ volatile("lea 1f(%%rip), %%rax\n\t"
                         "push %%rax\n\t"
                         "mov $1, %%edi\n\t"
                         "jmp *%%rcx\n"
                         "1:"
                         : "=a"(result)
                         : "c"(passwd_check)
                         : "rdi", "rsi", "rdx", "r8", "r9", "r10", "r11", "memory");
        return result;
    }
    return TWZ_EPERM;
}
TWZ_GATE(plugin_run);
