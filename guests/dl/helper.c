/* What guests/dl/tool.c needs: loaded with it by dlopen. */
long helper_twice(long x)
{
    return 2 * x;
}
