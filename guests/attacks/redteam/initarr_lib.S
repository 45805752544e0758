/* libgrinitarr: what its .init_array holds is the file's to choose. The honest build's entry is its own
 * constructor; -DMIDDLE points it at libgrtarget's gate + 4 (a relocation against a gate of another
 * compartment, with an addend); -DSYSCALL at the `syscall` inside the monitor's exit service (a reference to a
 * reserved name binds to the monitor's service, + 5 skips its `mov $1, %eax`). Either way the monitor calls it
 * as an initialiser of this compartment: a fetch of code this compartment may not run, so the initialisation
 * fails and the gates answer TWZ_EPERM. -DGATE points it at libgrtarget's gate itself: calling it is a
 * crossing like any call from a constructor (its arguments zero). */
    .text
    .type constructor, @function
constructor:
    movq $1, ran(%rip)
    ret
    .size constructor, .-constructor

    .globl initarr_ran
    .type initarr_ran, @function
initarr_ran:
    mov ran(%rip), %rax
    ret
    .size initarr_ran, .-initarr_ran

    .section .init_array, "aw"
    .align 8
#if defined(MIDDLE)
    .quad target_add + 4
#elif defined(SYSCALL)
    .quad __twz_monitor_exit + 5
#elif defined(GATE)
    .quad target_add
#else
    .quad constructor
#endif

    .data
    .align 8
ran:
    .quad 0

    .section .twz_secgate_info, "a"
    .align 8
    .ascii "initarr_ran"
    .zero 56 - 11
    .quad 3

    .section .note.GNU-stack, "", @progbits
