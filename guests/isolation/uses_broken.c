#include <stdio.h>
#include <twz.h>

long broken_answer(void);

int main(void)
{
    printf("broken_answer: %ld (TWZ_EPERM is %ld)\n", broken_answer(), TWZ_EPERM);
    return 0;
}
