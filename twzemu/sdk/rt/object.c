/* <twz/object.h>: each call crosses into the monitor through its own gate (twzemu/monitor/objects.py). */
#include <errno.h>
#include <twz/object.h>

#include "twz_runtime.h"

__attribute__((__weak__)) long __twz_monitor_object_create(long lifetime, twz_objid *id);
__attribute__((__weak__)) long __twz_monitor_object_map(const twz_objid *id, long prot);
__attribute__((__weak__)) long __twz_monitor_object_unmap(void *base);
__attribute__((__weak__)) long __twz_monitor_ptr_store(void *field, const void *target);
__attribute__((__weak__)) long __twz_monitor_ptr_load(const void *field);
__attribute__((__weak__)) long __twz_monitor_name_put(const char *name, const twz_objid *id);
__attribute__((__weak__)) long __twz_monitor_name_get(const char *name, twz_objid *id);
__attribute__((__weak__)) long __twz_monitor_name_remove(const char *name);
__attribute__((__weak__)) long __twz_monitor_name_list(char *buffer, size_t size);

/* A monitor answer: -errno is a failure (errno set, -1), anything else the result. */
static long answer(long result)
{
    if (result < 0 && result > -4096) {
        errno = (int)-result;
        return -1;
    }
    return result;
}

static void *address(long result)
{
    result = answer(result);
    return result == -1 ? 0 : (void *)result;
}

int twz_object_create(int lifetime, twz_objid *id)
{
    return (int)answer(__twz_monitor_object_create(lifetime, id));
}

void *twz_object_map(const twz_objid *id, int prot)
{
    return address(__twz_monitor_object_map(id, prot));
}

int twz_object_unmap(void *base)
{
    return (int)answer(__twz_monitor_object_unmap(base));
}

int twz_ptr_store(void *field, const void *target)
{
    return (int)answer(__twz_monitor_ptr_store(field, target));
}

void *twz_ptr_load(const void *field)
{
    return address(__twz_monitor_ptr_load(field));
}

int twz_name_put(const char *name, const twz_objid *id)
{
    return (int)answer(__twz_monitor_name_put(name, id));
}

int twz_name_get(const char *name, twz_objid *id)
{
    return (int)answer(__twz_monitor_name_get(name, id));
}

int twz_name_remove(const char *name)
{
    return (int)answer(__twz_monitor_name_remove(name));
}

long twz_name_list(char *buffer, size_t size)
{
    return answer(__twz_monitor_name_list(buffer, size));
}
