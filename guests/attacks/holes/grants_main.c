/* Hole 1: what a compartment sees of another is decided per crossing and per binding, never for every pair. */
#include <stdio.h>
#include "holes.h"

static long mine = 0x600d;

int main(void)
{
    long secret = gsecret_address();
    printf("peer reads the secret library's data while I call it: %ld\n", gpeer_read(secret));
    printf("peer writes the secret library's data while I call it: %ld\n", gpeer_write(secret, 1));
    printf("secret still: %#lx\n", gsecret_value());
    printf("peer reads my data while I call it: %#lx\n", gpeer_read((long)&mine));
    printf("peer writes my data while I call it: %ld\n", gpeer_write((long)&mine, 0x1234));
    printf("my data: %#lx\n", mine);
    gpeer_keep((long)&mine);
    printf("peer reads my data again in my next crossing: %#lx\n", gpeer_read_kept());
    printf("peer reads my data in a crossing from the mixed library: %ld\n", gmixed_relay());
    printf("early library: %ld\n", gearly_ok());
    printf("mixed, level none gate, reads my data: %#lx\n", gmixed_none_read((long)&mine));
    printf("mixed, level full gate, reads my data: %ld\n", gmixed_full_read((long)&mine));
    printf("I read the open library's data: %#lx\n", *(volatile long *)gopen_address());
    printf("I read the secret library's data: ");
    fflush(stdout);
    printf("%#lx\n", *(volatile long *)secret);
    return 0;
}
