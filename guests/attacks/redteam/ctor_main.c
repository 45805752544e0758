#include <stdio.h>

#include "redteam.h"

int main(void)
{
    printf("ctor_ping: %ld\n", ctor_ping());
    return 0;
}
