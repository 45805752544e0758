#include "twz_hypercall.h"

long twz_write(int fd, const void *buf, unsigned long len)
{
    return twz_hypercall3(TWZ_HC_WRITE, fd, (long)buf, (long)len);
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
