/* The red-team review of the isolation rework (tests/test_redteam.py): a malicious library author with the
 * source tries the crossing engine, the on-demand initialisers, the gate buffer, the monitor's services and the
 * ELF contents. Each program below links a few small libraries (libgr*.so) that declare gates, so each gets a
 * compartment of its own. Addresses cross gates as plain longs: that is how a pointer leaks. */
#ifndef REDTEAM_H
#define REDTEAM_H

#include <twz.h>

#define RETURN_POINT 0xffff800000000800UL /* monitor/crossing.py RETURN_POINT: where every callee's frame returns */
#define TCB_CALLER 32                     /* offset of caller_compartment in the TCB (twz_startup.h) */

/* initclobber: an on-demand initialiser calls back a compartment whose code it interrupted. libgrstart's
 * constructor calls libgrvic's vic_work, which calls libgrplug's plug_run before libgrplug was initialised;
 * libgrplug's constructor then calls vic_fill, a gate of the compartment it interrupted. */
long vic_work(void);      /* canaries in its frame, calls plug_run, counts the canaries that changed */
long vic_fill(long word); /* fills a local array with word */
long vic_corrupted(void); /* what the last vic_work counted (-1: it never finished) */
long plug_run(void);
long start_got(void);     /* what libgrstart's constructor got from vic_work */

/* nonebuf: libgrnone has a leaf gate at level none, a gate at level full and a private function; the program
 * is bound to both gates, so it is granted nothing of libgrnone's memory. */
long none_version(void);      /* level none: mov $3, %eax; ret */
long none_check(long guess);  /* level full: whether guess is the secret */

/* early: libgrearly's constructor calls a gate of the program before the program's own constructors ran. */
long prog_ready(void);        /* the program's gate: 1 once its constructor ran */
long early_saw(void);

/* ctor: libgrctor's constructor and destructor misbehave in the variants built into ctor_<variant>/ (initloop,
 * finiloop, initexit, recurse); the honest build does nothing. */
long ctor_ping(void);

/* chain: on-demand initialisers nested three deep. libgrchaine's constructor calls libgrchainf's gate,
 * libgrchainf's constructor calls libgrchaing's, whose constructor calls libgrchaine's (still initialising:
 * TWZ_EPERM); libgrchainf's constructor then executes `int $0x80`. */
long chaine_ping(void);
long chaine_saw(void);
long chainf_ping(void);
long chaing_ping(void);
long chaing_saw(void);

/* initarr: libgrinitarr's .init_array points into other compartments' code in the variants built into
 * initarr_<variant>/ (middle: the middle of libgrtarget's gate; syscall: the `syscall` inside the monitor's
 * exit service; gate: libgrtarget's gate); the honest build's points at its own constructor. */
long initarr_ran(void);
long target_add(long x);

/* refused: a message written for a crossing that is refused (libgrbroken failed to initialise) is not
 * delivered to the next compartment called. */
long broken_login(void);
long snoop_look(void);     /* the 8 bytes after "password=" in its gate buffer */

/* msglost: libgrmsgs's constructor calls libgrmsgv's msgv_send, which writes a message and calls libgrmsgp
 * before libgrmsgp was initialised; libgrmsgp's constructor calls msgv_touch back (libgrmsgv receives a
 * message); msgv_send then writes a new message and calls msgp_echo, which answers what it received. */
long msgv_send(void);
long msgv_touch(void);
long msgv_got(void);
long msgp_run(void);
long msgp_echo(void); /* the first 7 bytes of its gate buffer */
long msgs_ok(void);

/* probe: one program, one way per argument (probe_main.c), against libgrcallee (level full), libgrpeer (level
 * callee: it sees its caller's memory while called) and libgrthird (level full, and one gate at level none). */
long callee_call_unaligned(long gate); /* calls gate with rsp 4 bytes off alignment */
long callee_call_at_bottom(long gate); /* calls gate with rsp 8 bytes above the bottom of its own stack */
long callee_switch_stack(void);        /* returns 42 from a stack in its heap, through the return point */
long callee_forge_tail(long gate);     /* pushes junk, then the return point, and jmps to gate (not a tail call) */
long callee_tcb_lie(long gate);        /* writes 99 as its caller into its TCB, then calls gate */
long callee_id(void);                  /* twz_compartment_id() */
long callee_zero_fs(void);             /* mov USER_DS, %fs (its base becomes 0), then reads a thread-local */
long callee_tls(void);                 /* reads the same thread-local */
long callee_trap_flag(void);           /* sets RFLAGS.TF */
long peer_relay(long address, long results); /* reads the caller's word, hands it to libgrthird, reads it again */
long peer_read_full(long address);     /* level full: reads address */
long peer_write(long address, long length); /* write(1, address, length) */
long third_value(void);                /* 0x7417 */
long third_none(void);                 /* level none: 0x7417 */
long third_read(long address);
long third_callback(long address);     /* peer_read_full(address) */
long third_write(long address, long length);
long third_heap_grow(long bytes);      /* the monitor's heap_grow service, raw */
long third_info(long what);            /* the monitor's compartment_info service, raw */
long third_shift(void);                /* memmove(buffer, buffer + 1, 64) over the message it received */
long third_fill_backwards(void);       /* std; rep stosb of 'x' over the whole buffer, from its end */
long third_reply_then_print(void);     /* writes "pong" into its buffer, then printf (a monitor service) */
long prog_who(void);                   /* the program's gate: twz_caller_compartment() */

#endif
