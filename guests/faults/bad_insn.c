/* Executes ud2, an invalid instruction: a fault. */
int main(void)
{
    __builtin_trap();
}
