/* One isolated probe library, built twice (SELF = a, OTHER = b and the other way round): gates that touch
 * memory at a given address, report their own objects' addresses, call along a path of compartments, and
 * enter the other library's gate at an offset. The property tests (tests/test_properties.py) drive them. */
#include <stdlib.h>
#include <string.h>
#include <twz.h>

#define CAT3(a, b, c) a##b##c
#define GATE_NAME(who, what) CAT3(probe_, who, what)
#define MINE(what) GATE_NAME(SELF, what)
#define THEIRS(what) GATE_NAME(OTHER, what)

long THEIRS(_read)(long address);
long THEIRS(_chain)(long depth);
long THEIRS(_forge)(long return_address, long address);

static long data_word = MARK;
static long *heap_word;

long MINE(_read)(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(MINE(_read));

long MINE(_write)(long address, long value)
{
    *(volatile long *)address = value;
    return value;
}
TWZ_GATE(MINE(_write));

/* kind 0: a word of this library's data object; 1: of its heap. */
long MINE(_address)(long kind)
{
    if (!heap_word) {
        heap_word = malloc(sizeof *heap_word);
        *heap_word = MARK + 1;
    }
    return kind ? (long)heap_word : (long)&data_word;
}
TWZ_GATE(MINE(_address));

/* Follows the path of compartment letters in the gate buffer from position depth: the result adds this
 * library's mark times (depth + 1) to whatever the rest of the path returns. */
long MINE(_chain)(long depth)
{
    char path[256];
    memcpy(path, twz_gate_buffer(), sizeof path); /* what was received is never passed on by itself: */
    path[sizeof path - 1] = 0;
    long rest = 0;
    if (path[depth + 1] == *THEIRS_LETTER) {
        strcpy(twz_gate_buffer(), path); /* send the path on as this compartment's own message */
        rest = THEIRS(_chain)(depth + 1);
    }
    else if (path[depth + 1] == *SELF_LETTER)
        rest = MINE(_chain)(depth + 1);
    return rest + MARK * (depth + 1);
}
TWZ_GATE(MINE(_chain));

/* Calls the other library's read gate at entry + offset: only offset 0 is a gate entry. */
long MINE(_jump)(long offset, long address)
{
    long (*entry)(long) = (long (*)(long))((char *)THEIRS(_read) + offset);
    return entry(address);
}
TWZ_GATE(MINE(_jump));

/* Enters the other library's read gate with a jmp and `return_address` pushed as if by a call: the monitor
 * accepts the entry only if that address follows a call instruction of this compartment. */
long MINE(_forge)(long return_address, long address)
{
    long result;
    __asm__ volatile("push %2\n\t"
                     "jmp *%3"
                     : "=a"(result), "+D"(address)
                     : "r"(return_address), "r"(THEIRS(_read))
                     : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory");
    return result;
}
TWZ_GATE(MINE(_forge));
