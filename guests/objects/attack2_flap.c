#include <stdio.h>
long flap(long rounds);
int main(void)
{
    printf("flap(2) = %ld\n", flap(2));
    fflush(stdout);
    printf("flap(4) = %ld\n", flap(4));
    printf("the program goes on\n");
    return 0;
}
