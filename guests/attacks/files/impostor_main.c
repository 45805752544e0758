long victim_nothing(void);
long impostor_nothing(void);

int main(void)
{
    return (int)(victim_nothing() + impostor_nothing());
}
