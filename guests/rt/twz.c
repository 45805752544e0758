/* <twz.h> services and the TLS entry point gcc calls, both read from the thread control block at fs:0. */
#include <twz.h>

#include "rt.h"
#include "sys.h"
#include "twz_startup.h"

/* fs:0 holds the thread pointer itself (x86-64 TLS variant II), which is where the TCB starts. */
static struct twz_tcb *tcb(void)
{
    struct twz_tcb *t;

    __asm__("mov %%fs:0, %0" : "=r"(t));
    return t;
}

/* The monitor writes the caller into this compartment's TCB on every crossing (and restores it on return),
 * from the crossing itself: a caller cannot claim to be someone else. */
long twz_caller_compartment(void)
{
    return tcb()->caller_compartment;
}

void *twz_gate_buffer(void)
{
    return tcb()->gate_buffer;
}

void *__tls_get_addr(struct twz_tls_index *index)
{
    return (char *)tcb()->dtv[index->module] + index->offset;
}

/* Who this code runs as: the monitor answers for the compartment the crossing into it came from. */
long twz_compartment_id(void)
{
    return twz_sys_compartment_info(0);
}

const char *twz_compartment_name(void)
{
    return (const char *)twz_sys_compartment_info(1);
}

/* A monitor service that does nothing: what one call into the monitor costs (benchmarks). */
long twz_monitor_nop(void)
{
    return twz_sys_nop();
}
