#include <stdio.h>

#include "redteam.h"

int main(void)
{
    printf("initarr_ran: %ld, target_add: %ld\n", initarr_ran(), target_add(41));
    return 0;
}
