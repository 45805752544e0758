/* libvictim.so: the compartment the attacks go after. Its secrets live in its data object, its heap and its
 * stack; only its gates are reachable from other compartments, and a few of them leak addresses (as longs) so
 * that the attacks have something to aim at. */
#include "attacks.h"

long victim_data[64];   /* victim_data[32] is the data secret; the rest is room around it */
static long *heap_secret; /* malloc'd in this compartment's heap by the initialiser */

long victim_value(void)
{
    return victim_data[32] + *heap_secret;
}
TWZ_GATE(victim_value);

long victim_add(long amount)
{
    victim_data[32] += amount;
    return victim_value();
}
TWZ_GATE(victim_add);

long victim_data_address(void)
{
    return (long)&victim_data[32];
}
TWZ_GATE(victim_data_address);

long victim_heap_address(void)
{
    return (long)heap_secret;
}
TWZ_GATE(victim_heap_address);

/* The address of a slot in this gate's own frame, on the victim's stack (the frame is gone once the gate
 * returns, but the stack object is still the victim's alone). */
long victim_stack_address(void)
{
    volatile long frame[4] = {0x57ac, 0x57ac, 0x57ac, 0x57ac};
    long address = (long)&frame[1];
    __asm__ volatile("" : "+r"(address) : : "memory"); /* (and gcc need not know it escapes) */
    return address;
}
TWZ_GATE(victim_stack_address);

/* Exported but not a gate: only code of this compartment may call it. */
long victim_internal(void)
{
    victim_data[32] = 0; /* what an attacker would love to run */
    return 666;
}

long victim_internal_address(void)
{
    return (long)&victim_internal;
}
TWZ_GATE(victim_internal_address);

/* Runs in this compartment just before the program starts (the monitor calls the isolated compartments'
 * initialisers, this one last): the secret it also leaves in registers must not reach the program (regs.c). */
__attribute__((constructor)) static void victim_init(void)
{
    heap_secret = malloc(sizeof *heap_secret);
    *heap_secret = VICTIM_VALUE & 0xfff;
    victim_data[32] = VICTIM_VALUE & ~0xfffL;
    push_x87(VICTIM_VALUE);
    __asm__ volatile("movq %0, %%xmm15" : : "r"(VICTIM_VALUE) : "xmm15");
}
