/* Bound to libgr2c's level-none gate only: granted libgr2c's memory. */
#include <stdio.h>
#include "redteam2.h"

int main(void)
{
    printf("libgr2c's word: %#lx\n", *(volatile long *)c_secret_address());
    return 0;
}
