/* libgates.so (tests/test_link_attacks.py): gate records whose symbol is not a function of this library's
 * own code (issue 8 hole 3). A gate's entry must be an STT_FUNC defined in the declaring image (not SHN_ABS
 * or SHN_COMMON) lying wholly inside one of its own executable PT_LOAD segments; each one below breaks that
 * rule one way, and the linker must refuse it with one line naming the gate and the file (exit status 127).
 * Built honest (only `gates_ok`, a legitimate gate that every build keeps), once per bad record (-DBAD_ABS,
 * -DBAD_DATA, -DBAD_FAR, -DBAD_BIG) and once with all of them (-DBAD_ALL, which also has gates_null), which must
 * report every one.
 *
 * The record format is `struct twz_gate_record` of <twz.h>: a NUL-padded 56-byte name, then the level. */
#define TWZ_ISOLATE_FULL 3

#define GATE_RECORD(name)                          \
    .pushsection .twz_secgate_info, "a", @progbits; \
    .balign 8;                                     \
    1: .asciz #name;                               \
    .fill 56 - (. - 1b), 1, 0;                     \
    .quad TWZ_ISOLATE_FULL;                        \
    .popsection

    .text
    .globl gates_ok
    .type gates_ok, @function
gates_ok:
    mov $42, %eax
    ret
    .size gates_ok, . - gates_ok
    GATE_RECORD(gates_ok)

#if defined(BAD_ABS) || defined(BAD_ALL)
/* An absolute symbol: its value is chosen, not placed by ld, so it can name any address, e.g. another library's
 * private helper once load addresses are known. This one even lies in the library's own text: only its
 * section index (SHN_ABS) gives it away. */
    .globl gates_abs
    .type gates_abs, @function
    .set gates_abs, 0x1100
    GATE_RECORD(gates_abs)
#endif

#if defined(BAD_DATA) || defined(BAD_ALL)
/* A "function" in .data: writable, never executable. */
    .data
    .globl gates_data
    .type gates_data, @function
gates_data:
    .quad 0
    .size gates_data, 8
    .text
    GATE_RECORD(gates_data)
#endif

#if defined(BAD_FAR) || defined(BAD_ALL)
/* A .text symbol 2 GiB past gates_ok: one slot pair further, i.e. the same offset in the next library's text. */
    .globl gates_far
    .type gates_far, @function
    .set gates_far, gates_ok + 0x80000000
    GATE_RECORD(gates_far)
#endif

#if defined(BAD_BIG) || defined(BAD_ALL)
/* A real function whose declared size runs far beyond the end of the code. */
    .globl gates_big
    .type gates_big, @function
gates_big:
    xor %eax, %eax
    ret
    .size gates_big, 0x40000000
    GATE_RECORD(gates_big)
#endif

#if defined(BAD_ALL)
/* A .text symbol in the first page of the executable segment: Twizzler's null page, which holds the ELF
 * headers in the file and is never mapped. */
    .globl gates_null
    .type gates_null, @function
    .set gates_null, gates_ok - 0x800
    GATE_RECORD(gates_null)
#endif

    .section .note.GNU-stack, "", @progbits
