/* libgrnone: a secret, a leaf gate at level none (built with -O2: `mov $3, %eax; ret`), a gate at level full,
 * and a private function that is no gate. */
#include "redteam.h"

static volatile long secret = 0x5ec2e7L;

long none_version(void)
{
    return 3;
}
TWZ_GATE_LEVEL(none_version, TWZ_ISOLATE_NONE);

long none_check(long guess)
{
    return guess == secret;
}
TWZ_GATE(none_check);

__attribute__((noinline, used)) long none_private(void)
{
    return secret;
}
