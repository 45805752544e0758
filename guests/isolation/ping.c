/* libping.so: the other half of pingpong.c. */
#include <twz.h>

long pong(long n);

long ping(long n) { return n <= 0 ? 0 : 1 + pong(n - 1); }
TWZ_GATE(ping);
