#include <stdio.h>

long tls_bump(void);

int main(void)
{
    printf("tls_bump: %ld\n", tls_bump());
    return 0;
}
