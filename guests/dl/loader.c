/* dlopen, dlsym, dlclose and dlerror on libraries the program does not link against (tests/test_dlopen.py): the
 * output is compared with the same source built by gcc against glibc. */
#include <dlfcn.h>
#include <stdio.h>

int main(void)
{
    void *plugin = dlopen("libplugin.so", RTLD_NOW);
    if (!plugin) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    long (*add)(long, long) = (long (*)(long, long))dlsym(plugin, "plugin_add");
    const char *(*greeting)(void) = (const char *(*)(void))dlsym(plugin, "plugin_greeting");
    int *calls = dlsym(plugin, "plugin_calls");
    printf("add %ld %ld, greeting %s\n", add(2, 40), add(-1, 1), greeting());
    printf("calls seen through a data symbol: %d\n", *calls);
    printf("missing symbol: %s\n", dlsym(plugin, "plugin_nothing") ? "found" : (dlerror() ? "error" : "no error"));
    printf("dlerror again: %s\n", dlerror() ? "error" : "none");
    void *again = dlopen("libplugin.so", RTLD_NOW);
    printf("opened twice, same handle %d\n", again == plugin);
    dlclose(again);
    printf("after one dlclose: %ld\n", add(1, 1));
    dlclose(plugin);
    printf("missing library: %s\n", dlopen("libnothing.so", RTLD_NOW) ? "loaded" : (dlerror() ? "error" : "none"));
    void *tool = dlopen("libtool.so", RTLD_LAZY);
    long (*quadruple)(long) = tool ? (long (*)(long))dlsym(tool, "tool_quadruple") : 0;
    printf("tool %ld\n", quadruple ? quadruple(5) : -1L);
    void *plugin2 = dlopen("libplugin.so", RTLD_NOW);
    long (*add2)(long, long) = (long (*)(long, long))dlsym(plugin2, "plugin_add");
    printf("reopened: %ld\n", add2(3, 4));
    return 0; /* libplugin.so is still open: its destructor runs at exit */
}
