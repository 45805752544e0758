#include <stdio.h>

long inject_read(long address);

static long mine = 5;

int main(void)
{
    printf("inject_read: %ld\n", inject_read((long)&mine));
    return 0;
}
