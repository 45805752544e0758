/* Touches every page of a large .bss array once: each first touch is a page fault the monitor
 * resolves by backing the page lazily, then the store is retried. */
#define PAGES FAULT_PAGES
static char area[PAGES][4096];

int main(void)
{
    for (long i = 0; i < PAGES; i++)
        ((volatile char *)area[i])[0] = 1;
    return 0;
}
