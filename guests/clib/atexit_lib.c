/* An isolated library (it declares a gate) whose atexit handler and stdio buffer must survive to the program's
 * end: its compartment's copy of the C library runs them when the program exits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <twz.h>

static long registered;

static void at_exit_library(void)
{
    printf("library atexit %ld\n", registered);
}

long atexit_lib_register(long value)
{
    registered = value;
    atexit(at_exit_library);
    printf("library buffered line");  /* no newline: flushed only at exit */
    return value;
}
TWZ_GATE(atexit_lib_register);

/* Opens "owned.txt", which the program created: 0, or the errno (another compartment's file: EACCES). */
long atexit_lib_open_owned(void)
{
    FILE *f = fopen("owned.txt", "r");
    if (!f)
        return errno;
    fclose(f);
    return 0;
}
TWZ_GATE(atexit_lib_open_owned);
