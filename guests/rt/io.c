/* The first guests' output calls (twz_rt.h): unbuffered, straight to the monitor. A program that also
 * uses <stdio.h> should flush stdout before mixing the two. */
#include "sys.h"

long twz_write(int fd, const void *buf, unsigned long len)
{
    return twz_sys_write(fd, buf, len);
}

unsigned long twz_strlen(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

long twz_puts(const char *s)
{
    return twz_write(1, s, twz_strlen(s));
}
