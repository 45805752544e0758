/* host: loads the plugin argv[1] names and calls its function argv[2] */
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
    long (*f)(void) = (long (*)(void))dlsym(h, argv[2]);
    if (!f) { printf("dlsym: %s\n", dlerror()); return 1; }
    printf("%s -> %ld\n", argv[2], f());
    return 0;
}
