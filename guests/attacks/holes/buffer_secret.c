/* libgbufsecret: checks a password sent in the gate buffer and answers with a session key there. */
#include <string.h>
#include "holes.h"

long gbufsecret_login(void)
{
    char password[64];
    memcpy(password, twz_gate_buffer(), sizeof password - 1);
    password[sizeof password - 1] = 0;
    if (strcmp(password, "password-hunter2"))
        return 0;
    strcpy(twz_gate_buffer(), "session-key-4242");
    return 1;
}
TWZ_GATE(gbufsecret_login);

long gbufsecret_then_snoop(void)
{
    return gbufsnoop_look();
}
TWZ_GATE(gbufsecret_then_snoop);
