#include <stdio.h>
long see_map_secret(void);
long full_try_rw(void);
long full_swap(void);
long see_write(void);
int main(void)
{
    printf("see_map_secret: %#lx\n", see_map_secret());
    printf("full_try_rw (expect -13): %ld\n", full_try_rw());
    printf("full_swap: %#lx\n", full_swap());
    printf("see_write: %ld\n", see_write());
    return 0;
}
