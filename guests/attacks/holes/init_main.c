/* Hole 7: a compartment's initialisers run before its first crossing, whoever makes it; a cycle is refused. */
#include <stdio.h>
#include "holes.h"

int main(void)
{
    printf("the evil library's constructor saw the secret library %s\n",
           ginitevil_saw() == 1 ? "initialised" : "uninitialised");
    printf("secret ready: %ld\n", ginitsecret_ready());
    printf("cycle: a saw %ld, b saw %ld\n", gcyclea_saw(), gcycleb_saw());
    return 0;
}
