/* twzemu's crossing engine: secure-gate entries and returns, run as Unicorn's interrupt hook.
 *
 * Why C: a gate round trip is two page faults. Through a Python hook each costs a few microseconds of
 * interpreter time; here it costs a hash lookup, a page-table walk and a few stores, so the round trip is
 * dominated by Unicorn itself (two CR3 loads flush its TLB). Python still owns every decision that reports
 * something: this file only carries out crossings that are allowed, and otherwise changes nothing and answers a
 * status (twzemu/machine/fastpath/__init__.py mirrors every structure; twzemu/monitor/crossing.py explains the protocol).
 *
 * twz_on_intr is registered as the machine's only UC_HOOK_INTR hook. For a fetch fault while the fast path is
 * on, it tries twz_transfer; an entry or return it completes never reaches Python. Every other event goes to the
 * Python hook with the state unchanged and twz_transfer's answer in st->status (-1 when it did not try), which
 * the Python side acts on.
 */
#include <stdint.h>
#include <string.h>

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15, NUM_GPRS };

enum twz_status {
    TWZ_PASS = 0,           /* not a crossing: the fault is Python's (lazy backing, a violation...) */
    TWZ_ENTERED = 1,        /* the gate's compartment runs */
    TWZ_RETURNED = 2,       /* the caller runs again, after its call */
    TWZ_ANSWERED = 3,       /* the callee failed to initialise: the call returned TWZ_EPERM at once */
    TWZ_REFUSED = 4,        /* a gate entry whose return address follows no call in the caller */
    TWZ_MONITOR_RETURN = 5, /* the return point, ending a call the monitor made: twz_unwind ends it */
    TWZ_NEED_PAGE = 6,      /* a stack page is not in its page tables yet: back it (or refuse), retry */
    TWZ_TOO_DEEP = 7,       /* the crossing stack is full */
    TWZ_FINISHED = 8,       /* twz_unwind ended a call the monitor made; rax holds its value */
};

#define PAGE_FAULT 14
#define PF_FETCH 0x10u
#define PRESENT 1u
#define HUGE (1u << 7)
#define ADDRESS_MASK 0x000FFFFFFFFFF000ull
#define PAGE_MASK 0xFFFull
#define TWZ_EPERM ((uint64_t)-1)

struct twz_compartment {
    uint64_t cr3;                     /* 0: no compartment has this id */
    uint64_t thread_pointer;
    uint64_t stack_top;
    uint64_t return_slot;             /* physical address of stack_top - 8 */
    uint64_t caller_slot;             /* physical address of its TCB's caller_compartment */
    const uint64_t *return_sites;     /* sorted: every address that follows a call instruction */
    uint64_t num_return_sites;
    const uint8_t *shares_stack_with; /* [num_compartments]: nonzero = that callee runs on this one's stack */
    uint32_t failed;
    uint32_t reserved;
};

struct twz_gate {
    uint64_t entry;
    int32_t owner; /* -1: an empty slot of the hash table */
    int32_t index; /* the gate's number in Python's list, for names */
    int32_t arity; /* argument registers that pass (rdi, rsi, rdx, rcx, r8, r9 in that order) */
    int32_t reserved;
};

struct twz_crossing {
    int32_t caller; /* -1: the monitor's own call (init, fini) */
    int32_t callee;
    int32_t gate;
    uint16_t fpcw;  /* the caller's x87 control word and MXCSR: callee-saved (psABI 3.2.1) */
    uint16_t reserved;
    uint32_t mxcsr;
    uint32_t reserved2;
    uint64_t rsp;
    uint64_t return_address;
    uint64_t saved[6]; /* rbx, rbp, r12-r15 */
};

typedef void (*intr_hook)(void *uc, uint32_t intno, void *data);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef int (*reg_write_batch_fn)(void *uc, const int *regids, void *const *values, int count);

/* The x87 and SSE state a crossing resets, as Unicorn's register ids (FPU_IDS in Python): the control word,
 * status word, tag word, MXCSR, then st0-st7. */
enum { FPU_CW, FPU_SW, FPU_TAG, FPU_MXCSR, FPU_ST0, NUM_FPU_REGS = FPU_ST0 + 8 };
#define FPCW_DEFAULT 0x037F   /* psABI 3.4.1: all exceptions masked, extended precision, round to nearest */
#define MXCSR_DEFAULT 0x1F80  /* the same for SSE */
#define FPTAG_EMPTY 0xFFFF

struct float80 {
    uint64_t mantissa;
    uint16_t exponent;
};

struct twz_state {
    /* the machine's part, set at boot */
    void *uc;
    reg_write_fn reg_write;
    reg_read_fn reg_read;
    reg_write_batch_fn reg_write_batch;
    int32_t fpu_registers[NUM_FPU_REGS];
    intr_hook python_hook;
    uint64_t *gpr;
    uint64_t *rip;
    uint64_t *cr2;
    uint64_t *fs_base;
    int32_t *old_exception;
    int32_t *error_code;
    uint8_t *vectors;
    uint64_t vector_bytes;
    uint8_t *ram;
    uint64_t ram_size;
    uint64_t cr3; /* the root loaded now */
    int32_t cr3_register;
    int32_t hypercalls_allowed;
    int32_t fast;   /* the hook carries out crossings itself (off: no crossings yet, or tracing) */
    int32_t held;   /* a fault is pending for the run loop: hand everything to Python */
    int32_t status; /* what the hook's twz_transfer answered before calling Python; -1: it did not try */
    /* the monitor's part */
    struct twz_compartment *compartments;
    int32_t num_compartments;
    int32_t current; /* the compartment running, -1 for none */
    struct twz_gate *gates;
    uint64_t gate_mask; /* the table has gate_mask + 1 slots, a power of two */
    struct twz_crossing *stack;
    int32_t depth;
    int32_t capacity;
    struct twz_crossing last; /* what the latest return popped */
    uint64_t return_point;
    uint64_t need_address; /* TWZ_NEED_PAGE: this page of need_compartment's space */
    int32_t need_compartment;
    int32_t monitor;
    int32_t *exception_is_int; /* nonzero: the event is an `int n` instruction, not a CPU exception (cpustate) */
};

/* The struct sizes, for the Python side to check its mirror against. */
uint64_t twz_sizeof(int what)
{
    switch (what) {
    case 0: return sizeof(struct twz_state);
    case 1: return sizeof(struct twz_compartment);
    case 2: return sizeof(struct twz_gate);
    case 3: return sizeof(struct twz_crossing);
    default: return 0;
    }
}

void twz_write_cr3(struct twz_state *st, uint64_t root)
{
    st->reg_write(st->uc, st->cr3_register, &root); /* flushes Unicorn's TLB, as a real CR3 load does */
    st->cr3 = root;
}

/* The host address of the 8 bytes at va (8-byte aligned) in the address space rooted at cr3, or NULL if a table
 * entry on the way is not present (only the present bits matter: the monitor writes regardless of page rights). */
static uint8_t *translate(const struct twz_state *st, uint64_t cr3, uint64_t va)
{
    if (va >> 47)
        return NULL;
    uint64_t table = cr3 & ADDRESS_MASK;
    for (int shift = 39;; shift -= 9) {
        if (table + 0x1000 > st->ram_size)
            return NULL;
        uint64_t entry;
        memcpy(&entry, st->ram + table + ((va >> shift) & 511) * 8, 8);
        if (!(entry & PRESENT))
            return NULL;
        if (shift == 12) {
            uint64_t pa = (entry & ADDRESS_MASK) | (va & PAGE_MASK);
            return pa + 8 <= st->ram_size ? st->ram + pa : NULL;
        }
        if (entry & HUGE) /* twzemu maps 4 KiB pages only */
            return NULL;
        table = entry & ADDRESS_MASK;
    }
}

static uint64_t gate_hash(uint64_t entry)
{
    return (entry * 0x9E3779B97F4A7C15ull) >> 32;
}

/* Add gate to an open-addressing table of mask + 1 slots (a power of two, at most half full; empty slots have
 * owner -1). The monitor fills the table with this, so that gate_at probes it the same way. */
void twz_gate_insert(struct twz_gate *table, uint64_t mask, const struct twz_gate *gate)
{
    uint64_t i = gate_hash(gate->entry);
    while (table[i & mask].owner >= 0)
        i++;
    table[i & mask] = *gate;
}

static const struct twz_gate *gate_at(const struct twz_state *st, uint64_t address)
{
    if (!st->gates)
        return NULL;
    for (uint64_t i = gate_hash(address);; i++) {
        const struct twz_gate *g = &st->gates[i & st->gate_mask];
        if (g->owner < 0)
            return NULL;
        if (g->entry == address)
            return g;
    }
}

static int follows_call(const struct twz_compartment *c, uint64_t address)
{
    uint64_t lo = 0, hi = c->num_return_sites;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (c->return_sites[mid] < address)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->num_return_sites && c->return_sites[lo] == address;
}

/* Make compartment id the running one: its page tables, its thread pointer; only the monitor may hypercall. */
static void load(struct twz_state *st, int32_t id)
{
    const struct twz_compartment *c = &st->compartments[id];
    if (st->cr3 != c->cr3)
        twz_write_cr3(st, c->cr3);
    *st->fs_base = c->thread_pointer;
    st->current = id;
    st->hypercalls_allowed = id == st->monitor;
}


/* Empty the x87 stack and zero its registers, clear the status words, load the given control words: nothing
 * of one compartment's floating-point state reaches another but the control words a caller keeps. */
static void reset_fpu(const struct twz_state *st, uint16_t fpcw, uint32_t mxcsr)
{
    uint16_t sw = 0, tag = FPTAG_EMPTY;
    uint32_t csr = mxcsr;
    static const struct float80 zero = {0, 0};
    void *values[NUM_FPU_REGS] = {&fpcw, &sw, &tag, &csr};
    for (int i = FPU_ST0; i < NUM_FPU_REGS; i++)
        values[i] = (void *)&zero;
    st->reg_write_batch(st->uc, st->fpu_registers, values, NUM_FPU_REGS);
}

/* Zero every general, vector and x87 register; fpcw and mxcsr become the control words. Nothing of the code that
 * ran before (another compartment) stays: callers put back what passes. */
static void clear_registers(const struct twz_state *st, uint16_t fpcw, uint32_t mxcsr)
{
    memset(st->gpr, 0, NUM_GPRS * 8);
    memset(st->vectors, 0, st->vector_bytes);
    reset_fpu(st, fpcw, mxcsr);
}

/* Run compartment id from a clean CPU outside any crossing (the program at its start). */
void twz_resume(struct twz_state *st, int32_t id)
{
    st->depth = 0;
    load(st, id);
    clear_registers(st, FPCW_DEFAULT, MXCSR_DEFAULT);
}

static void put_u64(const struct twz_state *st, uint64_t pa, uint64_t value)
{
    memcpy(st->ram + pa, &value, 8);
}

/* The callee's frame: below the caller's when the two share a stack (level none), else a fresh one: the top of
 * the callee's own stack, or below its own frame if it is suspended in a crossing further down. */
static uint64_t frame_for(const struct twz_state *st, const struct twz_crossing *c)
{
    if (c->caller >= 0 && st->compartments[c->caller].shares_stack_with[c->callee])
        return c->rsp - 16; /* keeps the caller's return address; 16-byte aligned minus 8, as at any entry */
    for (int32_t i = st->depth - 1; i >= 0; i--)
        if (st->stack[i].caller == c->callee)
            return ((st->stack[i].rsp - 128) & ~0xFull) - 8; /* below its red zone */
    return st->compartments[c->callee].stack_top - 8;
}

static int switch_into(struct twz_state *st, const struct twz_crossing *c, uint64_t entry, int32_t arity)
{
    const struct twz_compartment *callee = &st->compartments[c->callee];
    uint64_t top = frame_for(st, c);
    if (top == callee->stack_top - 8) {
        put_u64(st, callee->return_slot, st->return_point);
    } else {
        uint8_t *slot = translate(st, callee->cr3, top);
        if (!slot) {
            st->need_address = top;
            st->need_compartment = c->callee;
            return TWZ_NEED_PAGE;
        }
        memcpy(slot, &st->return_point, 8);
    }
    put_u64(st, callee->caller_slot, (uint64_t)(int64_t)(c->caller < 0 ? st->monitor : c->caller));
    struct twz_crossing *pushed = &st->stack[st->depth++];
    *pushed = *c;
    st->reg_read(st->uc, st->fpu_registers[FPU_CW], &pushed->fpcw);
    st->reg_read(st->uc, st->fpu_registers[FPU_MXCSR], &pushed->mxcsr);
    load(st, c->callee);
    static const int arguments[6] = {RDI, RSI, RDX, RCX, R8, R9};
    uint64_t *r = st->gpr, passed[6];
    for (int i = 0; i < arity; i++)
        passed[i] = r[arguments[i]];
    clear_registers(st, FPCW_DEFAULT, MXCSR_DEFAULT); /* gates take integers: the arguments pass, nothing else */
    for (int i = 0; i < arity; i++)
        r[arguments[i]] = passed[i];
    r[RSP] = top; /* the callee's stack */
    *st->rip = entry;
    return TWZ_ENTERED;
}

static int enter(struct twz_state *st, const struct twz_gate *gate)
{
    const struct twz_compartment *caller = &st->compartments[st->current];
    uint64_t *r = st->gpr;
    uint64_t rsp = r[RSP], return_address;
    if (rsp & 7) /* a call leaves rsp as aligned as it found it, and the psABI keeps it 16-byte aligned */
        return TWZ_REFUSED;
    const uint8_t *at = translate(st, caller->cr3, rsp);
    if (!at) { /* not in its page tables yet: after a tail call from a gate, nothing touched that page */
        st->need_address = rsp;
        st->need_compartment = st->current;
        return TWZ_NEED_PAGE;
    }
    memcpy(&return_address, at, 8);
    /* A tail call from inside a gate leaves the return point as the return address: the callee returns there,
     * which also ends the tail-calling crossing. Anything else must follow a call instruction. */
    if (return_address != st->return_point && !follows_call(caller, return_address))
        return TWZ_REFUSED;
    if (st->compartments[gate->owner].failed) {
        r[RAX] = TWZ_EPERM;
        r[RSP] = rsp + 8;
        *st->rip = return_address;
        return TWZ_ANSWERED;
    }
    if (st->depth == st->capacity)
        return TWZ_TOO_DEEP;
    struct twz_crossing c = {st->current, gate->owner, gate->index, 0, 0, 0, 0, rsp, return_address,
                             {r[RBX], r[RBP], r[R12], r[R13], r[R14], r[R15]}};
    return switch_into(st, &c, gate->entry, gate->arity);
}

/* The caller id compartment id sees in its TCB once the innermost crossing is gone (-1: not in a gate). */
static int64_t caller_seen_by(const struct twz_state *st, int32_t id)
{
    for (int32_t i = st->depth - 1; i >= 0; i--)
        if (st->stack[i].callee == id)
            return st->stack[i].caller < 0 ? st->monitor : st->stack[i].caller;
    return -1;
}

/* End the innermost crossing: the caller gets value in rax and its own registers back. */
int twz_unwind(struct twz_state *st, uint64_t value)
{
    if (st->depth <= 0)
        return TWZ_PASS;
    struct twz_crossing c = st->stack[--st->depth];
    st->last = c;
    put_u64(st, st->compartments[c.callee].caller_slot, (uint64_t)caller_seen_by(st, c.callee));
    uint64_t *r = st->gpr;
    if (c.caller < 0) {
        st->current = -1;
        r[RAX] = value;
        return TWZ_FINISHED;
    }
    load(st, c.caller);
    /* rax passes; the caller's callee-saved registers and control words (not the status bits) come back */
    clear_registers(st, c.fpcw, c.mxcsr & ~0x3Fu);
    r[RAX] = value;
    r[RBX] = c.saved[0], r[RBP] = c.saved[1];
    r[R12] = c.saved[2], r[R13] = c.saved[3], r[R14] = c.saved[4], r[R15] = c.saved[5];
    r[RSP] = c.rsp + 8;
    *st->rip = c.return_address;
    return TWZ_RETURNED;
}

/* A fetch fault at address: a gate entry, the return point, or none of our business. */
int twz_transfer(struct twz_state *st, uint64_t address)
{
    if (st->current < 0)
        return TWZ_PASS;
    if (address == st->return_point) {
        if (st->depth <= 0)
            return TWZ_PASS;
        if (st->stack[st->depth - 1].caller < 0)
            return TWZ_MONITOR_RETURN;
        return twz_unwind(st, st->gpr[RAX]);
    }
    const struct twz_gate *gate = gate_at(st, address);
    if (!gate || gate->owner == st->current) /* its own code, perhaps not yet in its page tables */
        return TWZ_PASS;
    return enter(st, gate);
}

/* The monitor calls entry in compartment id (an initialiser, a finaliser); it returns through the return point. */
int twz_call(struct twz_state *st, int32_t id, uint64_t entry)
{
    if (st->depth == st->capacity)
        return TWZ_TOO_DEEP;
    struct twz_crossing c = {-1, id, -1, 0, 0, 0, 0, 0, 0, {0}};
    return switch_into(st, &c, entry, 0); /* initialisers and finalisers take no arguments */
}

void twz_on_intr(void *uc, uint32_t intno, void *data)
{
    struct twz_state *st = data;
    *st->old_exception = -1; /* unicorn #1883: never let the next fault become a double fault */
    st->status = -1;
    int software = st->exception_is_int && *st->exception_is_int; /* `int 0x0e` is no page fault */
    if (intno == PAGE_FAULT && !software && st->fast && !st->held && (*st->error_code & PF_FETCH)) {
        st->status = twz_transfer(st, *st->cr2);
        if (st->status == TWZ_ENTERED || st->status == TWZ_RETURNED || st->status == TWZ_ANSWERED)
            return;
    }
    st->python_hook(uc, intno, NULL);
}
