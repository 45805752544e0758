/* Attack 8: write text; execute data, stack and heap.
 *   wx                        libevil does each in its own compartment: each unwound (TWZ_EFAULT)
 *   wx text|data|stack|heap   ... then the program does one in its own compartment: killed (status 139)
 * Rule: text is mapped R-X, data, stack and heap RW- and NX (W^X) -> `write`/`execute` violation. */
#include <string.h>

#include "attacks.h"

#define CODE {0xb8, 42, 0, 0, 0, 0xc3} /* mov $42, %eax; ret */
static unsigned char program_code_in_data[16] = CODE;

__attribute__((noinline)) static long program_text(void)
{
    __asm__ volatile("");
    return 7;
}

static long run(unsigned char *code)
{
    long (*volatile function)(void) = (long (*)(void))code;
    return function();
}

int main(int argc, char **argv)
{
    atexit(attack_atexit);
    printf("library writes its text: %ld\n", evil_write_text());
    still_fine();
    printf("library executes its data: %ld\n", evil_exec_data());
    still_fine();
    printf("library executes its stack: %ld\n", evil_exec_stack());
    still_fine();
    printf("library executes its heap: %ld\n", evil_exec_heap());
    still_fine();
    if (argc > 1) {
        unsigned char stack_code[16] = CODE;
        unsigned char *heap_code = malloc(sizeof stack_code);
        memcpy(heap_code, stack_code, sizeof stack_code);
        printf("program %s\n", argv[1]);
        long got = -1;
        if (strcmp(argv[1], "text") == 0) {
            *(volatile unsigned char *)(void *)program_text = 0xc3;
            got = program_text();
        } else if (strcmp(argv[1], "data") == 0) {
            got = run(program_code_in_data);
        } else if (strcmp(argv[1], "stack") == 0) {
            got = run(stack_code);
        } else if (strcmp(argv[1], "heap") == 0) {
            got = run(heap_code);
        }
        printf("program got through: %ld\n", got); /* never */
    }
    return 0;
}
