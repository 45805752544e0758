/* libgopen: its gate is declared at level caller (the caller does not trust it, it trusts the caller): a caller
 * bound to it may see its memory. */
#include "holes.h"

static long own = 0x0be7;

long gopen_address(void)
{
    return (long)&own;
}
TWZ_GATE_LEVEL(gopen_address, TWZ_ISOLATE_CALLER);
