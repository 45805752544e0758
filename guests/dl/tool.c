/* A library loaded at run time that needs another (libhelper.so) the program does not have. */
long helper_twice(long x);

long tool_quadruple(long x)
{
    return helper_twice(helper_twice(x));
}
