#include "twz_rt.h"

int main(void)
{
    twz_puts("hello\n");
    return 0;
}
