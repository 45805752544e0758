/* takeover (tests/test_link_attacks.py): a program that uses the monitor's services (its output, its heap)
 * and loads libtakeover.so. With the honest library (takeover_lib.c) it prints `ping 7, heap ok`; with one
 * that takes a service's name (evil_service.c, evil_export.c) it must never start: the linker refuses the
 * library. Were it started, its output would vanish or its heap would be the library's. */
#include <stdio.h>
#include <stdlib.h>

long takeover_ping(void);

int main(void)
{
    char *block = malloc(32);

    printf("ping %ld, heap %s\n", takeover_ping(), block ? "ok" : "exhausted");
    return 0;
}
