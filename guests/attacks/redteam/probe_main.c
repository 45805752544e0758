/* probe WAY: one attempt per run, against libgrcallee, libgrpeer and libgrthird (redteam.h). Gates whose
 * address is taken are never called directly (attacks.h: `twzemu cc` cannot link both in one program). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redteam.h"

long prog_who(void)
{
    return twz_caller_compartment();
}
TWZ_GATE(prog_who);

static long word = 0x600d;

/* program_forge(gate): push the monitor's return point and jmp to gate, at depth 0: no crossing to end there. */
long program_forge(long gate);
__asm__(".text\n.globl program_forge\n.type program_forge, @function\n"
        "program_forge:\n"
        "    movabs $0xffff800000000800, %rax\n"
        "    push %rax\n"
        "    jmp *%rdi\n"
        ".size program_forge, .-program_forge\n");

static long nonzero_bytes(const unsigned char *buffer)
{
    long count = 0;
    for (int i = 0; i < TWZ_GATE_BUFFER_SIZE; i++)
        count += buffer[i] != 0;
    return count;
}

int main(int argc, char **argv)
{
    const char *way = argc > 1 ? argv[1] : "";
    volatile long canary = 0xCA7;

    if (!strcmp(way, "unaligned")) {
        printf("callee calls with rsp unaligned: %ld\n", callee_call_unaligned((long)third_value));
    } else if (!strcmp(way, "bottom")) {
        printf("callee calls a level-none gate at the bottom of its stack: %ld\n",
               callee_call_at_bottom((long)third_none));
    } else if (!strcmp(way, "switch")) {
        printf("callee returns from a stack in its data: %ld\n", callee_switch_stack());
    } else if (!strcmp(way, "forge")) {
        printf("callee jmps to a gate with the return point under junk: %#lx\n",
               callee_forge_tail((long)third_value));
    } else if (!strcmp(way, "forge0")) {
        printf("the program jmps to a gate with the return point as its return address\n");
        fflush(stdout);
        printf("the program got back: %#lx\n", program_forge((long)third_value));
    } else if (!strcmp(way, "tcb")) {
        printf("callee id %ld; after lying in its TCB: %ld\n", callee_id(), callee_tcb_lie((long)prog_who));
    } else if (!strcmp(way, "fs")) {
        printf("callee zeroes its fs base: %ld\n", callee_zero_fs());
        printf("callee's thread-local afterwards: %#lx\n", callee_tls());
    } else if (!strcmp(way, "tf")) {
        printf("callee sets the trap flag: %ld\n", callee_trap_flag());
        printf("callee id afterwards: %ld\n", callee_id());
    } else if (!strcmp(way, "pair")) {
        long results[4] = {0};
        peer_relay((long)&word, (long)results);
        printf("peer reads my word: %#lx\n", results[0]);
        printf("third reads it, from peer: %ld\n", results[1]);
        printf("peer reads it, called back by third: %ld\n", results[2]);
        printf("peer reads it again: %#lx\n", results[3]);
    } else if (!strcmp(way, "write")) {
        static char message[] = "peer writes my message\n"; /* data: rodata is text, which no one else maps */
        printf("third writes my word: %ld\n", third_write((long)&word, sizeof word));
        printf("peer wrote %ld bytes\n", peer_write((long)message, sizeof message - 1));
    } else if (!strcmp(way, "heap")) {
        volatile size_t huge = (size_t)-1, quarter = 1UL << 62; /* volatile: gcc refuses them as constants */
        printf("malloc(-1): %p\n", malloc(huge));
        printf("malloc(1 TiB): %p\n", malloc(1UL << 40));
        printf("calloc(2^62, 16): %p\n", calloc(quarter, 16));
        printf("third grows its heap by -16: %#lx\n", third_heap_grow(-16));
        printf("third grows its heap by 1 GiB: %#lx\n", third_heap_grow(1L << 30));
        printf("third asks compartment_info 7 and -1: %ld %ld\n", third_info(7), third_info(-1));
        char *small = malloc(100);
        strcpy(small, "still works");
        printf("malloc(100): %s\n", small);
    } else if (!strcmp(way, "buffer")) {
        char *buffer = twz_gate_buffer();
        strcpy(buffer, "hello, third");
        printf("third shifts my message with rep movsb: %ld nonzero bytes\n", third_shift());
        strcpy(buffer, "hello again");
        long filled = third_fill_backwards();
        printf("third fills its buffer backwards: %ld; I receive %ld nonzero bytes, first %c\n", filled,
               nonzero_bytes((unsigned char *)buffer), buffer[0]);
        third_reply_then_print();
        printf("third's reply: %s\n", buffer);
    } else {
        return 2;
    }
    printf("my canary: %#lx\n", canary);
    return 0;
}
