/* Never returns and never calls the monitor: only --timeout or Ctrl-C stop it. */
int main(void)
{
    for (volatile unsigned long i = 0;; i++)
        ;
}
