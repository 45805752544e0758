/* Reads Twizzler's null page: a plain fault (no object occupies offset 0 of a slot). */
int main(void)
{
    return *(volatile int *)0;
}
