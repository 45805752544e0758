/* Hole 8: ordinary code works: a gate that tail-calls a level-none gate of another library. */
#include <stdio.h>
#include "holes.h"

int main(void)
{
    printf("tail call: %ld\n", gtail_gate(21));
    return 0;
}
