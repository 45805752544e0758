/* The isolation holes of issue 8 (tests/test_holes.py), each tried by a program and small libraries that
 * declare gates (so each gets its own compartment). Addresses cross gates as plain longs: that is how a
 * pointer leaks. */
#ifndef HOLES_H
#define HOLES_H

#include <twz.h>

/* Hole 1: memory grants. libgsecret (level full) never calls anyone; libgpeer (level callee: it may see its
 * callers' memory while they call it) probes addresses it is given; libgmixed has a gate at level none and one
 * at level full; libgopen (level caller: its callers may see its memory). */
long gsecret_address(void);            /* its data secret */
long gsecret_value(void);              /* the secret, read legitimately */
long gpeer_read(long address);         /* *(long *)address */
long gpeer_write(long address, long value);
long gpeer_keep(long address);         /* remembers address for gpeer_read_kept */
long gpeer_read_kept(void);            /* *(long *)kept, in a later crossing */
long gpeer_address(void);              /* its own data */
long gmixed_none_read(long address);   /* level none */
long gmixed_full_read(long address);   /* level full */
long gmixed_address(void);             /* level full */
long gopen_address(void);              /* level caller */
long gmixed_relay(void);               /* calls gpeer_read_kept: a crossing that is not the program's */
long gearly_ok(void);                  /* libgearly: its constructor peeks at the program's data */

/* Hole 4: flags and x87 pointers across gates (the gates are written in assembly). */
long gflags_seen(void);     /* the RFLAGS it starts with */
long gflags_dirty(void);    /* returns with DF, AC and CF set */
long gflags_fpu_seen(void); /* FIP | FDP as it starts (fnstenv) */
long gflags_fpu_dirty(void); /* runs x87 code on its own data, returns */

/* Hole 5: frames. libgframey's gate (level none: it runs on its caller's stack) calls libgframez (full), which
 * calls back a gate of the program; y's canaries must survive. */
long gframey_work(long callback);
long gframez_call(long callback, long value);

/* Hole 6: the gate buffer. libgbufsecret answers a password with a session key; libgbufsnoop reports what it
 * finds in its gate buffer. */
long gbufsecret_login(void);       /* reads the password, writes the session key */
long gbufsecret_then_snoop(void);  /* reads the password, then calls the snoop without writing */
long gbufsnoop_look(void);         /* nonzero bytes in its gate buffer, and where the first one is */
long gbufsnoop_exec(void);         /* jumps into its gate buffer */

/* Hole 7: initialisation order. libginitevil's constructor calls libginitsecret's gate before libginitsecret's
 * constructor would have run; libgcyclea and libgcycleb call each other from their constructors. */
long ginitsecret_ready(void);
long ginitevil_saw(void);
long gcyclea_ping(void);
long gcycleb_ping(void);
long gcyclea_saw(void);
long gcycleb_saw(void);

/* Hole 8: a gate that tail-calls a level-none gate. */
long gtail_gate(long x);
long gtailnone_twice(long x);

#endif
