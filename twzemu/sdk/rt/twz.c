/* <twz.h> and <twz_rt.h>: what the monitor tells a compartment, and the first guests' calls. */
#include <stdlib.h>
#include <string.h>
#include <twz.h>
#include <twz_rt.h>

#include "twz_runtime.h"

/* The monitor writes the caller into this compartment's thread information on every crossing (and restores
 * it on return), from the crossing itself, on a page the compartment cannot write. */
long twz_caller_compartment(void)
{
    return __twz_thread_info()->caller_compartment;
}

void *twz_gate_buffer(void)
{
    return (void *)__twz_thread_info()->gate_buffer;
}

/* Who this code runs as: the monitor answers for the compartment the crossing into it came from. */
long twz_compartment_id(void)
{
    return __twz_monitor_compartment_info(0);
}

const char *twz_compartment_name(void)
{
    return (const char *)__twz_monitor_compartment_info(1);
}

/* A monitor service that does nothing: what one call into the monitor costs (benchmarks). */
long twz_monitor_nop(void)
{
    return __twz_monitor_nop();
}

long twz_write(int fd, const void *buf, unsigned long len)
{
    return __twz_monitor_write(fd, buf, len);
}

unsigned long twz_strlen(const char *s)
{
    return strlen(s);
}

long twz_puts(const char *s)
{
    return twz_write(1, s, strlen(s));
}

void twz_exit(int status)
{
    exit(status);
}
