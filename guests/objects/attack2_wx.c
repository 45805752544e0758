#include <stdio.h>
#include <string.h>
long owner_make(void); long owner_write(long); long execer_run(void);
int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "make")) { printf("make %ld\n", owner_make()); return 0; }
    printf("write 1: %ld\n", owner_write(1));
    printf("run: %ld\n", execer_run());
    printf("write 2 (no remap): %ld\n", owner_write(2));
    printf("run: %ld\n", execer_run());
    return 0;
}
