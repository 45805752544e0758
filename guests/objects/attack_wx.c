#include <stdio.h>
long see_map_rw(void);
long full_shuffle(void);
long see_wx(void);
int main(void)
{
    printf("see_map_rw: %#lx\n", see_map_rw());
    printf("full_shuffle: %#lx\n", full_shuffle());
    printf("see_wx: %#lx\n", see_wx());
    return 0;
}
