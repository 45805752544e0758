/* Calls into its stack, which is mapped RW- and NX: a security violation. */
int main(void)
{
    volatile unsigned char code[16] = {0xc3};
    ((void (*)(void))code)();
    return 0;
}
