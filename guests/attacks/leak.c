/* Attacks 1 and 2: read or write another compartment's data, heap and stack through pointers its gates leak.
 *   leak read|write               from inside libevil (a crossing): each attempt is unwound to TWZ_EFAULT
 *   leak read|write data|heap|stack   ... then the program itself tries one: killed (status 139)
 * Rule: the victim's objects are mapped only in its own compartment's page tables, so the access faults and
 * the address belongs to an object that exists -> `security violation: read|write ...`. */
#include <string.h>

#include "attacks.h"

int main(int argc, char **argv)
{
    static const char *names[3] = {"data", "heap", "stack"};
    long where[3] = {victim_data_address(), victim_heap_address(), victim_stack_address()};
    int write = argc > 1 && strcmp(argv[1], "write") == 0;

    atexit(attack_atexit);
    for (int i = 0; i < 3; i++) {
        long result = write ? evil_write(where[i], 0xbad) : evil_read(where[i]);
        printf("library %s victim %s: %ld\n", write ? "writes" : "reads", names[i], result);
        still_fine();
    }
    for (int i = 0; argc > 2 && i < 3; i++) {
        if (strcmp(argv[2], names[i]) != 0)
            continue;
        printf("program %s victim %s\n", write ? "writes" : "reads", names[i]);
        long got = 0xbad;
        if (write)
            *(volatile long *)where[i] = got;
        else
            got = *(volatile long *)where[i];
        printf("program got through: %#lx\n", got); /* never */
    }
    return 0;
}
