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

/* Inside a gate: the calling compartment's id (0 = monitor, 1 = the program, then in load order);
 * -1 outside a gate. */
long twz_caller_compartment(void);

/* This thread's buffer of TWZ_GATE_BUFFER_SIZE bytes, at the same address in caller and callee, for data
 * that crosses a gate. */
void *twz_gate_buffer(void);

#endif
