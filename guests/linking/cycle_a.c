/* libcyclea and libcycleb need each other (a DT_NEEDED cycle is legal): each calls into the other. */
#include <stdio.h>

int cycle_b_value(void);

int cycle_a_value(void) { return 1; }
int cycle_a_sum(void) { return cycle_a_value() + cycle_b_value(); }

__attribute__((constructor)) static void init_a(void) { puts("init cyclea"); }
