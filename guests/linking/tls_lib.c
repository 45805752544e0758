__thread int lib_counter = 5;
static __thread long lib_zeroed[4];

int lib_bump(void)
{
    lib_zeroed[3]++;
    return ++lib_counter + (int)lib_zeroed[0];
}
