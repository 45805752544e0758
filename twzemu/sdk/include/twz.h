/* Twizzler services for guest programs and libraries (DESIGN.md "Guest ABI": <twz.h>). */
#ifndef _TWZ_H
#define _TWZ_H

/* What a gate call returns when the callee's compartment failed to initialise, or when the callee faulted
 * or violated isolation inside the crossing (DESIGN.md "What a violation does"). */
#define TWZ_EPERM (-1L)
#define TWZ_EFAULT (-14L)

/* Isolation levels of RFC 0008's trust table, for TWZ_GATE_LEVEL. */
#define TWZ_ISOLATE_NONE 0
#define TWZ_ISOLATE_CALLEE 1
#define TWZ_ISOLATE_CALLER 2
#define TWZ_ISOLATE_FULL 3

#define TWZ_GATE_BUFFER_SIZE 4096

/* TWZ_GATE(fn); at file scope, after fn's declaration, makes fn (at most 6 integer or pointer arguments, a
 * long result) a secure gate of its library: the library then gets a compartment of its own, and other
 * compartments can reach it only through its gates. The record holds no pointer (no relocation): the monitor
 * binds the name to the library's exported definition. TWZ_GATE_LEVEL picks the isolation level. */
struct twz_gate_record {
    char name[56];
    long level;
};

#define TWZ_GATE_LEVEL(fn, lvl) TWZ_GATE_RECORD_(fn, lvl) /* expands fn first: macros may name the gate */
#define TWZ_GATE_RECORD_(fn, lvl)                                                                        \
    _Static_assert(sizeof(#fn) <= sizeof(((struct twz_gate_record *)0)->name), "gate name too long: " #fn); \
    __attribute__((used, section(".twz_secgate_info"), aligned(8))) static const struct twz_gate_record     \
        __twz_gate_record_##fn = {#fn, (lvl)}

#define TWZ_GATE(fn) TWZ_GATE_LEVEL(fn, TWZ_ISOLATE_FULL)

/* Inside a gate: the calling compartment's id (0 = monitor, 1 = the program, then in load order);
 * -1 outside a gate. */
long twz_caller_compartment(void);

/* This thread's buffer of TWZ_GATE_BUFFER_SIZE bytes, at the same address in caller and callee, for data
 * that crosses a gate. Each compartment has its own; the monitor carries one message per crossing:
 * - calling a gate sends the caller's buffer to the callee, if the caller wrote it since its buffer last sent
 *   or received a message; otherwise the callee gets an empty (all-zero) buffer;
 * - returning sends the callee's buffer back the same way; if the callee wrote nothing, the caller's buffer
 *   stays as it was;
 * - once sent or received, a buffer is stale: it can be read, and the first write into it starts a new
 *   message (the whole buffer is cleared first). Read what you received before you write your answer.
 * So what two compartments exchange is never readable by a third, unless one of them writes it again.
 * Calls into the monitor (output, heap, ...) neither send nor consume a message. */
void *twz_gate_buffer(void);

/* This thread's own compartment, as the monitor knows it: its id (numbered as twz_caller_compartment numbers
 * them) and its name (`prog`, `prog::libfoo.so`), which the monitor sends as its answer in this thread's gate
 * buffer (a received message: the rest of the buffer is zero); the result points there. */
long twz_compartment_id(void);
const char *twz_compartment_name(void);

/* A monitor service that does nothing: one crossing into the monitor and back. */
long twz_monitor_nop(void);

#endif
