/* libgsecret: fully isolated; it calls nobody, so nobody may ever see its memory. It reads libgpeer's kept
 * pointer through a crossing of its own (gsecret_value calls nothing). */
#include "holes.h"

static long secret = 0x5ec2e7;

long gsecret_address(void)
{
    return (long)&secret;
}
TWZ_GATE(gsecret_address);

long gsecret_value(void)
{
    return secret;
}
TWZ_GATE(gsecret_value);
