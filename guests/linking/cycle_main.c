#include <stdio.h>

int cycle_a_sum(void);
int cycle_b_sum(void);

int main(void)
{
    printf("cycle sums %d %d\n", cycle_a_sum(), cycle_b_sum());
    return 0;
}
