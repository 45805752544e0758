#include <stdio.h>

#include "redteam.h"

int main(void)
{
    printf("e's constructor got %ld, g's constructor got %ld\n", chaine_saw(), chaing_saw());
    printf("e %ld, f %ld, g %ld\n", chaine_ping(), chainf_ping(), chaing_ping());
    return 0;
}
