/* twzcall: the caller `twzemu call` runs (twzemu/monitor/call.py). argv[1] is the function's address (hex),
 * argv[2] how to read its result (i: signed, u: unsigned, p: pointer, s: string, v: nothing), argv[3...] its
 * arguments: "i<unsigned decimal>", or "s<text>", copied into this compartment's gate buffer (which a gate
 * receives as its message) and passed as its address there. A gate is called from this program's compartment,
 * so the call is a real crossing. The result line is left in twz_call_line for the monitor to read after the
 * run; nothing is printed (what the library prints is its own output). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <twz.h>

char twz_call_line[TWZ_GATE_BUFFER_SIZE];

typedef long function(long, long, long, long, long, long);

/* For twzemu.Session, which keeps one machine for many calls: the monitor sets twz_call_target and calls this
 * with the six argument registers; the call from here into a gate is a crossing. */
function *twz_call_target;
long twz_call_result;

long twz_call_now(long a, long b, long c, long d, long e, long f)
{
    twz_call_result = twz_call_target(a, b, c, d, e, f); /* stored, so that the call is no tail call */
    return twz_call_result;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 9)
        return 2;
    function *target = (function *)strtoul(argv[1], NULL, 16);
    long arguments[6] = {0};
    char *buffer = twz_gate_buffer();
    unsigned long used = 0;
    for (int i = 3; i < argc; i++) {
        if (argv[i][0] == 's') {
            unsigned long size = strlen(argv[i] + 1) + 1;
            if (used + size > TWZ_GATE_BUFFER_SIZE)
                return 3;
            memcpy(buffer + used, argv[i] + 1, size);
            arguments[i - 3] = (long)(buffer + used);
            used += size;
        } else {
            arguments[i - 3] = (long)strtoul(argv[i] + 1, NULL, 10);
        }
    }
    long result = target(arguments[0], arguments[1], arguments[2], arguments[3], arguments[4], arguments[5]);
    switch (argv[2][0]) {
    case 'i': snprintf(twz_call_line, sizeof twz_call_line, "%ld", result); break;
    case 'u': snprintf(twz_call_line, sizeof twz_call_line, "%lu", (unsigned long)result); break;
    case 'p': snprintf(twz_call_line, sizeof twz_call_line, "%#lx", (unsigned long)result); break;
    case 's': snprintf(twz_call_line, sizeof twz_call_line, "%s", result ? (const char *)result : "(null)"); break;
    default: break;
    }
    return 0;
}
