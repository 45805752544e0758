/* A library no one links against: guests/dl/loader.c loads it with dlopen (tests/test_dlopen.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plugin_calls;
static char *greeting;

__attribute__((constructor)) static void plugin_start(void)
{
    greeting = strdup("plugin ready");
    printf("constructor: %s\n", greeting);
}

__attribute__((destructor)) static void plugin_end(void)
{
    printf("destructor after %d calls\n", plugin_calls);
    free(greeting);
}

long plugin_add(long a, long b)
{
    plugin_calls++;
    return a + b;
}

const char *plugin_greeting(void)
{
    return greeting;
}
