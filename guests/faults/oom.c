/* oom MIB: writes one byte in every page of MIB mebibytes of its heap, then exits 0. With more MIB than the
 * machine's RAM (`twzemu run --memory`), backing a page finds RAM full: the program is stopped with a report. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long mib = strtol(argv[1], 0, 0);
    volatile char *heap = malloc(mib << 20);
    if (!heap)
        return 3;
    for (long offset = 0; offset < mib << 20; offset += 4096)
        heap[offset] = 1;
    printf("touched %ld MiB\n", mib);
    return 0;
}
