/* Tries to move its own thread pointer with wrfsbase: CR4.FSGSBASE is clear, so this is #UD. */
int main(void)
{
    unsigned long where = 0x1000;
    __asm__ volatile("wrfsbase %0" : : "r"(where));
    return 0;
}
