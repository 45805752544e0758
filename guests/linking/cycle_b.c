#include <stdio.h>

int cycle_a_value(void);

int cycle_b_value(void) { return 2 + 0 * cycle_a_value(); }
int cycle_b_sum(void) { return cycle_a_value() + cycle_b_value(); }

__attribute__((constructor)) static void init_b(void) { puts("init cycleb"); }
