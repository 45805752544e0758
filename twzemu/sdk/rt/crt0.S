/* Program entry, linked into every program (crt0.o); everything else is in libtwzrt.so.
 *
 * The monitor enters _start with rdi = struct twz_startup * and rsp 16-byte aligned (twz_startup.h).
 * _start is assembly because a C function would assume the rsp of a function that was called (8 below
 * a 16-byte boundary). It hands main's address to __twz_start, so libtwzrt never looks main up.
 * rbp = 0 and an undefined return address end every backtrace here (psABI 3.4.1). */
    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    .cfi_startproc
    .cfi_undefined rip
    xor %ebp, %ebp
    mov main@GOTPCREL(%rip), %rsi
    call __twz_start@PLT
    hlt                         /* __twz_start does not return; if it did, #GP stops the program */
    .cfi_endproc
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
