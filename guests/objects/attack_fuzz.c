/* Malformed arguments to every object service: each must be an error return, never a monitor crash. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <twz.h>
#include <twz/object.h>


#define T(expr) do { errno = 0; long r_ = (long)(expr); printf("%-66s -> %ld %s\n", #expr, r_, errno ? strerror(errno) : ""); } while (0)
static const char ro_text[] = "read-only";

int main(void)
{
    twz_objid a, b, junk = {~0UL, ~0UL}, zero = {0, 0};
    char big[600];
    T(twz_object_create(2, &a));
    T(twz_object_create(-1, &a));
    T(twz_object_create(0, (twz_objid *)ro_text));
    T(twz_object_create(0, (twz_objid *)0));
    T(twz_object_create(0, (twz_objid *)0xffff800000000000UL));
    T(twz_object_create(0, (twz_objid *)0x7ffffffffff8UL));
    T(twz_object_create(0, &a));
    T(twz_object_create(0, &b));
    T((long)twz_object_map(0, 1));
    T((long)twz_object_map((twz_objid *)-1L, 1));
    T((long)twz_object_map(&a, 0));
    T((long)twz_object_map(&a, 2));
    T((long)twz_object_map(&a, 4));
    T((long)twz_object_map(&a, 7));
    T((long)twz_object_map(&a, 9));
    T((long)twz_object_map(&a, -1));
    T((long)twz_object_map(&junk, 1));
    T((long)twz_object_map(&zero, 1));
    char *pa = twz_object_map(&a, 3), *pb = twz_object_map(&b, 3);
    printf("pa=%p pb=%p\n", pa, pb);
    T(twz_object_unmap(0));
    T(twz_object_unmap((void *)-1L));
    T(twz_object_unmap((void *)0xffffffffc0000000UL));
    T(twz_object_unmap(pa + 0x1000));
    T(twz_object_unmap((void *)0x80000000)); /* the program's text slot */
    T(twz_object_unmap((void *)0x40000000)); /* slot 1 */
    /* ptr_store */
    T(twz_ptr_store(pa + 0x1001, pb + 0x1000));
    T(twz_ptr_store(pa, pb + 0x1000));
    T(twz_ptr_store(pa + 0x3ffff000, pb + 0x1000));
    T(twz_ptr_store(pa + 0x3ffff000 - 8, pb + 0x1000));
    T(twz_ptr_store(pa + 0x1000, (void *)-1L));
    T(twz_ptr_store(pa + 0x1000, pb)); /* base of B: offset 0 */
    T(twz_ptr_store(pa + 0x1000, pa)); /* base of A itself: index 0 offset 0 == null? */
    printf("  value stored for &A[0]: %#lx\n", *(unsigned long *)(pa + 0x1000));
    T(twz_ptr_store(pa + 0x1000, pb + 0x3fffffff));
    T(twz_ptr_store((void *)-8L, pb));
    /* forged meta: fotcount 0xffff, then a target not in the FOT */
    unsigned short *meta16 = (unsigned short *)(pa + 0x3ffff000);
    memset(pa + 0x3ffff000, 0xff, 48);
    meta16[18] = 0xffff;
    T(twz_ptr_store(pa + 0x1000, pb + 0x1000));
    meta16[18] = 0xfffe;
    clock_t c0 = clock();
    T(twz_ptr_store(pa + 0x1000, pb + 0x1000)); /* scans 65534 entries, then appends at 0xffff */
    printf("  (took %ld clock ticks)\n", (long)(clock() - c0));
    /* ptr_load with garbage */
    unsigned long *f = (unsigned long *)(pa + 0x2000);
    f[0] = ~0UL;             T((long)twz_ptr_load(f));
    f[0] = 0xffffUL << 48 | 0x1000; T((long)twz_ptr_load(f));
    f[0] = 0x0000ffffffffffffUL;   T((long)twz_ptr_load(f));
    f[0] = 0x3fffffffUL;           T((long)twz_ptr_load(f));
    f[0] = 0x40000000UL;           T((long)twz_ptr_load(f));
    f[0] = 1UL << 48 | 0x1000;     T((long)twz_ptr_load(f)); /* entry 1: 0xff.. flags, id all ones */
    T((long)twz_ptr_load(pa + 0x3ffffffc));
    T((long)twz_ptr_load(pa + 0x3ffffff8));
    T((long)twz_ptr_load(pa));
    T((long)twz_ptr_load((void *)-1L));
    /* names */
    T(twz_name_get(0, &a));
    T(twz_name_get("x", 0));
    T(twz_name_get("", &b));
    memset(big, 'A', sizeof big); big[sizeof big - 1] = 0;
    T(twz_name_put(big, &a));
    big[255] = 0; T(twz_name_put(big, &a));
    big[251] = 0; T(twz_name_put(big, &a));
    big[252] = 'A'; big[252] = 0; T(twz_name_put(big, &a));
    T(twz_name_put("bad\xff\xfe", &a));
    T(twz_name_put("bad\x01", &a));
    T(twz_name_put("a b", &a));
    T(twz_name_put("../../names.json", &a));
    T(twz_name_put("/", &a));
    T(twz_name_put("\xe2\x80\xa8", &a));
    T(twz_name_put("0x00000000000000000000000000000001", &a));
    T(twz_name_put("owner:x:0x1", &a));
    T(twz_name_put("OWNER:x", &a));
    T(twz_name_put("obj:obj:x", &a));
    T(twz_name_put("libc.so", &a));
    T(twz_name_put("ok", &junk));
    T(twz_name_put("ok", (twz_objid *)0));
    /* a name right at the end of mapped memory, no NUL */
    memset(pa + 0x3ffffff0, 'z', 16);
    T(twz_name_get(pa + 0x3ffffff0, &b));
    T(twz_name_remove("file:/x"));
    T(twz_name_remove("nonexistent"));
    T(twz_name_list(0, 0));
    T(twz_name_list(0, 100));
    T(twz_name_list((char *)ro_text, 100));
    T(twz_name_list(pa + 0x1000, -1L));
    printf("  list: ");
    for (char *p = pa + 0x1000; *p; p += strlen(p) + 1) printf("[%s] ", p);
    printf("\n");
    /* exhaust slots */
    int n = 0; long last = 0;
    for (int i = 0; i < 300; i++) {
        twz_objid c;
        if (twz_object_create(0, &c)) { last = -errno; break; }
        if (!twz_object_map(&c, 1)) { last = -errno; break; }
        n++;
    }
    printf("mapped %d more, then %ld\n", n, last);
    return 0;
}
