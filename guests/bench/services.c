/* A loop of no-op monitor service calls: each is a crossing into compartment 0, whose gate code makes the
 * hypercall, and back. */
__attribute__((weak)) long __twz_monitor_nop(void);

int main(void)
{
    for (long i = 0; i < HYPERCALLS; i++)
        __twz_monitor_nop();
    return 0;
}
