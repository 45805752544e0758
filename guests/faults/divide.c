/* Divides by zero: #DE. */
volatile int zero;

int main(void)
{
    return 10 / zero;
}
