/* One compartment of the adversarial property (tests/test_adversarial.py, issue 8 "Go beyond the list"), built
 * as the program (SELF=0, `driver`: argv[1] is its script) and as libnode1.so .. libnode3.so (SELF=1..3).
 *
 * Each declares four gates prop<SELF>_<level>, one per isolation level (0 none, 1 callee, 2 caller, 3 full).
 * Which gates of the others it is bound to is the table prop_bound of libbind<SELF>.so, and what its
 * initialiser does is the script prop_init_script of libinit<SELF>.so: both come in variants, picked per run
 * with -L. A gate runs the script it finds in the gate buffer, one output line per step:
 *
 *   c J L K {S}  write S into the gate buffer (a new message) and call J's gate at level L (`*`: the lowest
 *                level this compartment is bound to); print the result; K (d h l t s, or - for nothing)
 *                keeps it as the address of J's object of that kind
 *   b J L        the same call without writing the buffer: J receives what this compartment last wrote, or zeros
 *   r C K        read a word of C's object of kind K: d data, h heap, l TLS, t text, s a stack frame
 *   w C K        write it (d h l: a new value; t: zero; s: read the word and write it back)
 *   x C          call C's private (non-gate) function
 *   e C K        execute C's object of kind K (d h l s) or the gate buffer (b)
 *   g J O        call J's lowest bound gate at entry + O
 *   q            return into the caller's private function (push; ret)
 *   p O          write one byte into the gate buffer at 2048 + 512 O + 7
 *   h            print a hash of the gate buffer
 *   S            whether this gate runs on its caller's stack (its local and the caller's in one 1 GiB slot)
 *   z D {S}      run S in a frame grown by D * 128 bytes of canaries
 *   R K          return the address of this compartment's object of kind K (instead of 100 + 10 SELF + level)
 *   a C K        forward the address of C's object of kind K with the next message (c), as if a pointer
 *   y C K        a system call reading C's object of kind K: `write` 8 bytes of it to this compartment's file
 *   Y C K        a system call writing it: `read` 8 bytes from that file into it, the value w would write
 *                (K d h l t: a live frame is not overwritten)
 *   o C K        a system call reading a string there: `open` it as a path
 *                each prints ok (Y: the value), or efault when the monitor refused the buffer: a compartment's
 *                C library can never do more than its compartment's page tables allow (issue 12)
 *
 * Addresses of other compartments are learnt only from crossings: a gate's arguments are its caller's stack
 * frame, data, heap, TLS and private function; a call's result may be the callee's address (R); a message may
 * carry addresses its sender knows (a), in slots after the script. A gate prints, on entry, who called it, its
 * level, a hash of the message (the slots left out: addresses differ between runs) and how many slots are set.
 * Every frame holds canaries, checked after each call it makes and before it ends ("CANARY" if one changed,
 * issue 8 hole 5).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <twz.h>
#include <unistd.h>

#define COMPARTMENTS 4
#define SCRIPT_MAX 1024
#define CANARIES 8
#define SLOTS_AT 1024     /* forwarded addresses: slot C * KINDS + K */
#define MESSAGE_END 2048 /* scripts and slots stay below this offset; `p` writes above it */

enum kind { DATA, HEAP, TLS, TEXT, STACK, KINDS };

typedef long gate_fn(long, long, long, long, long, long);
extern gate_fn *const prop_bound[COMPARTMENTS][4]; /* libbind<SELF>.so */
extern const char prop_init_script[];              /* libinit<SELF>.so */

static long data_word = 1000 + 10 * SELF + 1;
static long *heap_word;
static __thread long tls_word = 1000 + 10 * SELF + 3;
static long known[COMPARTMENTS][KINDS]; /* addresses learnt of the others */
static long writes;
static unsigned long activations;

struct context {
    int caller;         /* the compartment of the crossing this code runs in, -1 outside a gate */
    long caller_local;  /* the address of a local of the caller's frame */
    long result;
    unsigned long forward; /* slots (C * KINDS + K) to fill in the next message */
};

static long run(const char *script, const char *end, struct context *ctx);

__attribute__((noinline)) static long private_function(void)
{
    return 500 + 10 * SELF;
}

#define SLOT(c, kind) ((long *)((char *)twz_gate_buffer() + SLOTS_AT))[(c) * KINDS + (kind)]

/* FNV-1a of the buffer but its slots; and how many slots are set. */
static unsigned long hash(const unsigned char *p)
{
    unsigned long h = 2166136261UL;
    for (int i = 0; i < TWZ_GATE_BUFFER_SIZE; i++)
        if (i < SLOTS_AT || i >= SLOTS_AT + COMPARTMENTS * KINDS * 8)
            h = ((h ^ p[i]) * 16777619UL) & 0xffffffffUL;
    return h;
}

static int slots_set(void)
{
    int n = 0;
    for (int i = 0; i < COMPARTMENTS * KINDS; i++)
        n += SLOT(0, i) != 0;
    return n;
}

static int kind_of(char k)
{
    switch (k) {
    case 'd': return DATA;
    case 'h': return HEAP;
    case 'l': return TLS;
    case 't': return TEXT;
    case 's': return STACK;
    }
    return -1;
}

static long own(int kind, long local)
{
    switch (kind) {
    case DATA: return (long)&data_word;
    case HEAP: return (long)heap_word;
    case TLS: return (long)&tls_word;
    case TEXT: return (long)private_function;
    }
    return local;
}

static long address(int c, int kind, long local)
{
    return c == SELF ? own(kind, local) : known[c][kind];
}

static int lowest_bound(int j)
{
    for (int l = 0; l < 4; l++)
        if (prop_bound[j][l])
            return l;
    return -1;
}

/* The end of the block that starts just after its '{'. */
static const char *block_end(const char *p)
{
    int depth = 1;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && --depth == 0)
            return p;
    }
    return p;
}

static unsigned long canary(unsigned long id, int i)
{
    return (unsigned long)(SELF + 1) * 0x9E3779B97F4A7C15UL ^ id << 8 ^ (unsigned long)i;
}

static void fill(volatile unsigned long *c, int n, unsigned long id)
{
    for (int i = 0; i < n; i++)
        c[i] = canary(id, i);
}

static void check(volatile unsigned long *c, int n, unsigned long id)
{
    for (int i = 0; i < n; i++)
        if (c[i] != canary(id, i)) {
            printf("%d CANARY\n", SELF);
            fill(c, n, id);
            return;
        }
}

static void print_result(const char *what, long r)
{
    if (r >= -100 && r < 100000)
        printf("%d %s %ld\n", SELF, what, r);
    else
        printf("%d %s addr\n", SELF, what);
}

/* c and b: a crossing into J, with this frame's local, data, heap, TLS and private function as arguments. */
static void call(char op, const char *p, const char *sub, const char *sub_end, struct context *ctx)
{
    int j = p[1] - '0';
    int level = p[2] == '*' ? lowest_bound(j) : p[2] - '0';
    char what[8] = {op, p[1], level < 0 ? p[2] : (char)('0' + level), 0};
    gate_fn *gate = level < 0 ? 0 : prop_bound[j][level];
    if (!gate) {
        printf("%d %s unbound\n", SELF, what);
        return;
    }
    volatile long local = 0x10ca1;
    if (op == 'c') {
        char *buffer = twz_gate_buffer();
        memset(buffer, 0, TWZ_GATE_BUFFER_SIZE);
        memcpy(buffer, sub, (size_t)(sub_end - sub));
        for (int i = 0; i < COMPARTMENTS * KINDS; i++)
            if (ctx->forward >> i & 1)
                SLOT(0, i) = address(i / KINDS, i % KINDS, (long)&local);
        ctx->forward = 0;
    }
    long r = gate((long)&local, (long)&data_word, (long)heap_word, (long)&tls_word, (long)private_function, 0);
    if (r == TWZ_EFAULT || r == TWZ_EPERM) /* what an unwound callee leaves in the buffer is not specified */
        memset(twz_gate_buffer(), 0, TWZ_GATE_BUFFER_SIZE);
    print_result(what, r);
    int kind = op == 'c' ? kind_of(p[3]) : -1;
    if (kind >= 0 && r != TWZ_EFAULT && r != TWZ_EPERM)
        known[j][kind] = r;
}

/* y, Y and o: a system call given at as its buffer; what the op prints after "SELF what ". */
static void system_call(char op, const char *what, long at)
{
    static int file = -1;
    if (file < 0) {
        char name[] = "prop0";
        name[4] = (char)('0' + SELF);
        file = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
    }
    long value = 10000 * (SELF + 1) + writes + 1, done;
    if (op == 'y') {
        done = lseek(file, 0, SEEK_SET) == 0 ? write(file, (void *)at, 8) : -2;
    } else if (op == 'Y') {
        done = lseek(file, 8, SEEK_SET) == 8 && write(file, &value, 8) == 8 && lseek(file, 8, SEEK_SET) == 8
                   ? read(file, (void *)at, 8)
                   : -2;
    } else {
        done = open((const char *)at, O_RDONLY);
        if (done >= 0)
            close((int)done);
        else if (errno != EFAULT)
            done = 8; /* no such file, or not allowed: the path was read */
    }
    if (done < 0)
        printf("%d %s %s\n", SELF, what, done == -1 && errno == EFAULT ? "efault" : "failed");
    else if (op == 'Y' && ++writes)
        printf("%d %s %ld\n", SELF, what, value);
    else
        printf("%d %s ok\n", SELF, what);
}

static void padded(int units, const char *sub, struct context *ctx)
{
    volatile unsigned long pad[units * 16];
    unsigned long id = ++activations;
    fill(pad, units * 16, id);
    run(sub, block_end(sub), ctx);
    check(pad, units * 16, id);
}

/* Runs script up to end (a block's '}', or the terminating NUL). */
static long run(const char *script, const char *end, struct context *ctx)
{
    volatile unsigned long guard[CANARIES];
    volatile long local = 0x5e1f;
    unsigned long id = ++activations;
    fill(guard, CANARIES, id);
    for (const char *p = script; p < end && *p;) {
        char op = *p;
        if (op == ' ' || op == '}') {
            p++;
            continue;
        }
        char what[8] = {op, p[1], p[2], 0};
        int c = p[1] - '0', kind = kind_of(p[2]);
        switch (op) {
        case 'c': {
            const char *sub = p + 5, *end = block_end(sub);
            call(op, p, sub, end, ctx);
            p = *end ? end + 1 : end;
            break;
        }
        case 'b':
            call(op, p, 0, 0, ctx);
            p += 3;
            break;
        case 'r': case 'w': {
            long at = address(c, kind, (long)&local);
            p += 3;
            if (!at) {
                printf("%d %s skip\n", SELF, what);
                break;
            }
            if (op == 'w' && kind == TEXT)
                *(volatile long *)at = 0;
            else if (op == 'w' && kind == STACK) /* a frame may be live: write back what is there */
                *(volatile long *)at = *(volatile long *)at;
            else if (op == 'w')
                *(volatile long *)at = 10000 * (SELF + 1) + ++writes;
            long value = *(volatile long *)at;
            if (op == 'r' && kind != TEXT && kind != STACK)
                printf("%d %s %ld\n", SELF, what, value);
            else
                printf("%d %s ok\n", SELF, what);
            break;
        }
        case 'y': case 'Y': case 'o': {
            long at = address(c, kind, (long)&local);
            p += 3;
            if (!at)
                printf("%d %s skip\n", SELF, what);
            else
                system_call(op, what, at);
            break;
        }
        case 'x': {
            long at = address(c, TEXT, 0);
            what[2] = 0;
            p += 2;
            if (!at)
                printf("%d %s skip\n", SELF, what);
            else
                printf("%d %s %ld\n", SELF, what, ((long (*)(void))at)());
            break;
        }
        case 'e': {
            long at = p[2] == 'b' ? (long)twz_gate_buffer() : address(c, kind, (long)&local);
            p += 3;
            if (!at) {
                printf("%d %s skip\n", SELF, what);
                break;
            }
            ((void (*)(void))at)();
            printf("%d %s executed\n", SELF, what);
            break;
        }
        case 'g': {
            int level = lowest_bound(c);
            p += 3;
            if (level < 0) {
                printf("%d %s unbound\n", SELF, what);
                break;
            }
            gate_fn *entry = (gate_fn *)((char *)prop_bound[c][level] + (what[2] - '0'));
            print_result(what, entry(0, 0, 0, 0, 0, 0));
            break;
        }
        case 'q':
            p += 1;
            if (ctx->caller < 0 || !known[ctx->caller][TEXT]) {
                printf("%d q none\n", SELF);
                break;
            }
            __asm__ volatile("push %0\n\tret" : : "r"(known[ctx->caller][TEXT]) : "memory");
            break;
        case 'p': {
            char *buffer = twz_gate_buffer();
            buffer[MESSAGE_END + 512 * (p[1] - '0') + 7] = (char)(0x41 + SELF);
            what[2] = 0;
            p += 2;
            printf("%d %s ok\n", SELF, what);
            break;
        }
        case 'h':
            p += 1;
            printf("%d h %08lx %d\n", SELF, hash(twz_gate_buffer()), slots_set());
            break;
        case 'a':
            ctx->forward |= 1UL << (c * KINDS + kind);
            p += 3;
            break;
        case 'S':
            p += 1;
            if (ctx->caller < 0)
                printf("%d S none\n", SELF);
            else
                printf("%d S %d\n", SELF, ((long)&local >> 30) == (ctx->caller_local >> 30));
            break;
        case 'z': {
            const char *sub = p + 3, *end = block_end(sub);
            padded(p[1] - '0', sub, ctx);
            p = *end ? end + 1 : end;
            break;
        }
        case 'R':
            ctx->result = own(kind_of(p[1]), (long)&local);
            p += 2;
            break;
        default:
            printf("%d bad script at '%s'\n", SELF, p);
            p = "";
        }
        check(guard, CANARIES, id);
    }
    check(guard, CANARIES, id);
    return ctx->result;
}

/* A gate: the script is the message in the gate buffer; the caller's addresses are the arguments. */
static long enter(long level, long local, long data, long heap, long tls, long text)
{
    const char *buffer = twz_gate_buffer();
    char script[SCRIPT_MAX];
    unsigned long received = hash((const unsigned char *)buffer);
    int n = 0;
    while (n < SCRIPT_MAX - 1 && buffer[n])
        n++;
    memcpy(script, buffer, (size_t)n);
    script[n] = 0;
    int forwarded = slots_set();
    for (int i = 0; i < COMPARTMENTS * KINDS; i++)
        if (SLOT(0, i) && i / KINDS != SELF)
            known[i / KINDS][i % KINDS] = SLOT(0, i);
    struct context ctx = {(int)twz_caller_compartment() - 1, local, 100 + 10 * SELF + level, 0};
    printf("%d in %d %ld %08lx %d\n", SELF, ctx.caller, level, received, forwarded);
    if (ctx.caller >= 0 && ctx.caller < COMPARTMENTS) {
        long *mine = known[ctx.caller];
        mine[STACK] = local, mine[DATA] = data, mine[HEAP] = heap, mine[TLS] = tls, mine[TEXT] = text;
    } else
        ctx.caller = -1;
    return run(script, script + n, &ctx);
}

#define CAT4_(a, b, c, d) a##b##c##d
#define CAT4(a, b, c, d) CAT4_(a, b, c, d)
#define GATE(level)                                                                                    \
    long CAT4(prop, SELF, _, level)(long a0, long a1, long a2, long a3, long a4, long a5)               \
    {                                                                                                  \
        (void)a5;                                                                                      \
        return enter(level, a0, a1, a2, a3, a4);                                                       \
    }                                                                                                  \
    TWZ_GATE_LEVEL(CAT4(prop, SELF, _, level), level);
GATE(0)
GATE(1)
GATE(2)
GATE(3)

/* The initialiser: a heap word, then the script of libinit<SELF>.so, outside any gate. */
__attribute__((constructor)) static void initialise(void)
{
    heap_word = malloc(sizeof *heap_word);
    *heap_word = 1000 + 10 * SELF + 2;
    printf("%d init\n", SELF);
    struct context ctx = {-1, 0, 0, 0};
    run(prop_init_script, prop_init_script + strlen(prop_init_script), &ctx);
}

#if SELF == 0
#include <pthread.h>
#include <sched.h>

static volatile int script_done;

static void *script_thread(void *script)
{
    struct context ctx = {-1, 0, 0, 0};
    run(script, (const char *)script + strlen(script), &ctx);
    script_done = 1;
    return 0;
}

/* Runs beside the script's thread until it ends: it computes and makes system calls (into the monitor), so that
 * a schedule preempts the script's thread anywhere, in the middle of its crossings too. */
static void *noise_thread(void *arg)
{
    (void)arg;
    volatile unsigned long x = 1;
    while (!script_done) {
        for (int i = 0; i < 500; i++)
            x = x * 6364136223846793005UL + 1;
        (void)getpid();
        sched_yield();
    }
    return 0;
}

/* With "threads" after the script (tests/test_adversarial.py), the script runs in a thread of its own beside
 * another thread, under whatever schedule twzemu draws: what it prints must not change. */
int main(int argc, char **argv)
{
    struct context ctx = {-1, 0, 0, 0};
    if (argc > 2 && !strcmp(argv[2], "threads")) {
        pthread_t script, noise;
        pthread_create(&noise, 0, noise_thread, 0);
        pthread_create(&script, 0, script_thread, argv[1]);
        pthread_join(script, 0);
        pthread_join(noise, 0);
    } else if (argc > 1)
        run(argv[1], argv[1] + strlen(argv[1]), &ctx);
    printf("0 done\n");
    return 0;
}
#endif
