/* The second red-team review (tests/test_redteam2.py). Gates cross addresses as plain longs. */
#ifndef REDTEAM2_H
#define REDTEAM2_H

#include <twz.h>

/* deep: libgr2e's constructor makes libgr2f and libgr2g call each other through gate pointers until the crossing
 * stack is (nearly) full, then calls libgr2h's gate, whose compartment is not initialised yet: its initialiser
 * must run at that depth, or the call be refused. */
long e_results(long i);                               /* what the constructor's attempt i got */
long f_rec(long n, long next, long self, long last); /* n > 0: next(n - 1, self, next, last); else last() */
long g_rec(long n, long next, long self, long last);
long h_ping(void);                                    /* 7 once its constructor ran */

/* pair: libgr2c has a gate at level none and one at level full that read a word at an address; the program is
 * bound to both (so it sees nothing of libgr2c). c_reply writes word into its gate buffer as its reply;
 * c_first returns the first word of the message it received, c_word the word at an offset of it. */
long c_none_read(long address);
long c_full_read(long address);
long c_reply(long word);
long c_first(void);
long c_word(long offset);
long c_secret_address(void); /* level none */
#endif
