/* Runs the operations named in argv against the probe libraries a and b, one output line each:
 *   R<x><t><o>   library x reads object o (d = data, h = heap) of compartment t (p = program, a, b)
 *   W<x><t><o>   library x writes it
 *   C<path>      a chain of gate calls along path (letters a/b), starting from the program
 *   J<x><k>      library x calls the other library's read gate at entry + k, on that library's data
 *   F<x><hex>    library x enters the other library's read gate by jmp, with return address <hex>
 * Each line is the call's result in decimal; TWZ_EFAULT is -14. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <twz.h>

long probe_a_read(long), probe_b_read(long), probe_a_write(long, long), probe_b_write(long, long);
long probe_a_address(long), probe_b_address(long), probe_a_chain(long), probe_b_chain(long);
long probe_a_jump(long, long), probe_b_jump(long, long);
long probe_a_forge(long, long), probe_b_forge(long, long);

static long program_data = 7;

static long address_of(char compartment, char object)
{
    static long *program_heap;
    long kind = object == 'h';
    if (compartment == 'a')
        return probe_a_address(kind);
    if (compartment == 'b')
        return probe_b_address(kind);
    if (!program_heap) {
        program_heap = malloc(sizeof *program_heap);
        *program_heap = 8;
    }
    return kind ? (long)program_heap : (long)&program_data;
}

static long run(const char *op)
{
    switch (op[0]) {
    case 'R': {
        long address = address_of(op[2], op[3]);
        return op[1] == 'a' ? probe_a_read(address) : probe_b_read(address);
    }
    case 'W': {
        long address = address_of(op[2], op[3]);
        return op[1] == 'a' ? probe_a_write(address, 1000) : probe_b_write(address, 1000);
    }
    case 'C':
        strcpy(twz_gate_buffer(), op + 1);
        return op[1] == 'a' ? probe_a_chain(0) : probe_b_chain(0);
    case 'F': { /* F<x><hex address>: library x enters the other's read gate returning to that address */
        long target = strtol(op + 2, NULL, 16);
        return op[1] == 'a' ? probe_a_forge(target, address_of('b', 'd')) : probe_b_forge(target, address_of('a', 'd'));
    }
    case 'J': {
        long offset = strtol(op + 2, NULL, 10);
        return op[1] == 'a' ? probe_a_jump(offset, address_of('b', 'd')) : probe_b_jump(offset, address_of('a', 'd'));
    }
    }
    return -999;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("%ld\n", run(argv[i]));
    printf("done %ld\n", twz_caller_compartment());
    return 0;
}
