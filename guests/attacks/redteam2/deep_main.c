#include <stdio.h>
#include "redteam2.h"

int main(void)
{
    for (long i = 0; i < 8; i++)
        printf("attempt %ld: %ld\n", i, e_results(i));
    printf("h_ping: %ld\n", h_ping());
    return 0;
}
