/* Calls into its data object, which is mapped RW- and NX: a security violation. */
unsigned char payload[16] = {0xc3};

int main(void)
{
    ((void (*)(void))payload)();
    return 0;
}
