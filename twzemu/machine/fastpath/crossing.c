/* twzemu's crossing engine: secure-gate entries and returns, run as Unicorn's interrupt hook.
 *
 * Why C: a gate round trip is two page faults. Through a Python hook each costs a few microseconds of
 * interpreter time; here it costs a hash lookup, a page-table walk and a few stores, so the round trip is
 * dominated by Unicorn itself (two CR3 loads flush its TLB). Python still owns every decision that reports
 * something: this file only carries out crossings that are allowed, and otherwise changes nothing and answers a
 * status (twzemu/machine/engine.py is its face; twzemu/monitor/crossing.py explains the protocol).
 *
 * Everything in these tables was written by the monitor, but the guest chooses the addresses and registers the
 * engine works from: every index is bounds-checked, every write into guest memory goes through a page walk that
 * demands a present, user, writable leaf in the page tables of the side it writes for.
 *
 * twz_on_intr is registered as the machine's only UC_HOOK_INTR hook. For a fetch fault while the fast path is
 * on, it tries twz_transfer; an entry or return it completes never reaches Python. A write to a gate buffer that
 * holds a stale message (one sent or received) starts a new one (the buffer is cleared first) without Python too. Every other event
 * goes to the Python hook with the state unchanged and twz_transfer's answer in st->status (-1 when it did not
 * try), which the Python side acts on.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15, NUM_GPRS };

enum twz_status {
    TWZ_PASS = 0,           /* not a crossing: the fault is Python's (lazy backing, a violation...) */
    TWZ_ENTERED = 1,        /* the gate's compartment runs */
    TWZ_RETURNED = 2,       /* the caller runs again, after its call */
    TWZ_ANSWERED = 3,       /* the callee failed to initialise: the call returned TWZ_EPERM at once */
    TWZ_REFUSED = 4,        /* a gate entry whose return address follows no call in the caller, or a bad stack */
    TWZ_MONITOR_RETURN = 5, /* the return point, ending a call the monitor made: twz_unwind ends it */
    TWZ_NEED_PAGE = 6,      /* a stack page is not in its page tables yet: back it (or refuse), retry */
    TWZ_TOO_DEEP = 7,       /* the crossing stack is full: answer the caller (twz_answer) */
    TWZ_FINISHED = 8,       /* twz_unwind ended a call the monitor made; rax holds its value */
    TWZ_NEED_CONTEXT = 9,   /* the callee has no page tables for this caller yet: build them, retry */
    TWZ_NEED_INIT = 10,     /* the callee's initialisers have not run (or are running): Python decides */
};

/* Why a crossing was refused (st->refusal after TWZ_REFUSED): the monitor's verdict names it. */
enum { REFUSED_NOT_AFTER_CALL = 1, REFUSED_NO_FRAME = 2, REFUSED_NO_COMPARTMENT = 3 };

/* A compartment's lifecycle (its initialisers run once, before its first crossing). */
enum { READY = 0, UNINITIALISED = 1, INITIALISING = 2, FAILED = 3 };

/* What a crossing's effective level means for it (the monitor fills st->rules from security/levels.py). */
#define RULE_FRESH_STACK 1u        /* the callee runs on a stack of its own, not the caller's */
#define RULE_CALLEE_SEES_CALLER 2u /* the callee runs in page tables that also map the caller's memory */
#define NUM_LEVELS 4

#define PAGE_FAULT 14
#define PF_PRESENT 0x1u
#define PF_WRITE 0x2u
#define PF_FETCH 0x10u
#define PTE_PRESENT 1ull
#define PTE_WRITABLE 2ull
#define PTE_USER 4ull
#define PTE_HUGE (1ull << 7)
#define ADDRESS_MASK 0x000FFFFFFFFFF000ull
#define PAGE_SIZE 4096ull
#define PAGE_MASK (PAGE_SIZE - 1)
#define RED_ZONE 128 /* psABI 3.2.2: below a suspended frame's rsp, 128 bytes are still its own */
#define TWZ_EPERM ((uint64_t)-1)
#define RFLAGS_START 0x202ull /* IF and the reserved bit: DF, AC, TF and the arithmetic flags clear (psABI 3.4.1) */

/* One set of page tables a compartment runs in: its own, or its own plus a trusting caller's memory. */
struct twz_context {
    uint64_t cr3;      /* 0: not built yet */
    uint64_t gate_pte; /* physical address of the leaf entry that maps the compartment's gate buffer here */
};

struct twz_compartment {
    struct twz_context base;      /* cr3 0: no compartment has this id */
    uint64_t thread_pointer;
    uint64_t stack_base;          /* the lowest address of its stack a frame may use */
    uint64_t stack_top;
    uint64_t caller_slot;         /* physical address of its TCB's caller_compartment */
    uint64_t gate_buffer;         /* physical address of its gate buffer page */
    const uint64_t *return_sites; /* sorted: every address that follows a call instruction */
    uint64_t num_return_sites;
    int32_t lifecycle;
    int32_t stale;                /* its gate buffer is stale: it holds a message sent or received since the last write */
    int32_t caller_level;         /* its isolation level as a caller (--caller-isolation) */
    int32_t empty;                /* while stale: its gate buffer is known to be all zero (no need to clear it) */
};

struct twz_gate {
    uint64_t entry;
    int32_t owner; /* -1: an empty slot of the hash table */
    int32_t index; /* the gate's number in Python's list, for names */
    int32_t arity; /* argument registers that pass (rdi, rsi, rdx, rcx, r8, r9 in that order) */
    int32_t level; /* its declared isolation level */
};

struct twz_crossing {
    int32_t caller; /* -1: the monitor's own call (init, fini) */
    int32_t callee;
    int32_t gate;
    int32_t stack;              /* the compartment whose stack the caller ran on */
    struct twz_context context; /* the page tables the caller ran in */
    uint64_t rsp;
    uint64_t return_address;
    uint64_t saved[6]; /* rbx, rbp, r12-r15 */
    uint64_t callee_rsp; /* the callee's rsp at its first instruction (its return address there: the return point) */
    uint16_t fpcw;     /* the caller's x87 control word and MXCSR: callee-saved (psABI 3.2.1) */
    uint16_t reserved;
    uint32_t mxcsr;
};

/* --quantum: how many instructions each translated block holds, by its address and size (an open-addressing table
 * filled as the engine meets a block it does not know: count 0 is an empty slot). */
struct twz_block {
    uint64_t address;
    uint32_t size;
    uint32_t count;
};
#define BLOCK_PROBES 8

typedef int (*emu_stop_fn)(void *uc);
typedef int (*quantum_fn)(void *uc); /* Python's scheduler, run from the counter's hook: 0 if it declined */
/* Unicorn's uc_vmem_read and capstone's cs_disasm_iter, handed over by Python (--quantum's instruction count) */
typedef int (*vmem_read_fn)(void *uc, uint64_t address, int prot, void *bytes, size_t size);
typedef _Bool (*disasm_iter_fn)(size_t handle, const uint8_t **code, size_t *size, uint64_t *address, void *insn);
#define UC_PROT_EXEC 4
#define BLOCK_BYTES_MAX 8192 /* a translated block's bytes: at most two pages, and TCG_MAX_INSNS instructions */
typedef void (*intr_hook)(void *uc, uint32_t intno, void *data);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef int (*reg_write_batch_fn)(void *uc, const int *regids, void *const *values, int count);

/* The x87 and SSE state a crossing resets, as Unicorn's register ids (the machine fills fpu_registers from
 * cpustate.FPU_REGISTERS in this order): control word, status word, tag word, MXCSR, the last instruction and
 * operand pointers and opcode (FIP, FDP, FOP, FCS, FDS: they hold the other side's addresses), st0-st7. */
enum { FPU_CW, FPU_SW, FPU_TAG, FPU_MXCSR, FPU_IP, FPU_DP, FPU_OP, FPU_CS, FPU_DS, FPU_ST0, NUM_FPU_REGS = FPU_ST0 + 8 };
#define FPCW_DEFAULT 0x037F  /* psABI 3.4.1: all exceptions masked, extended precision, round to nearest */
#define MXCSR_DEFAULT 0x1F80 /* the same for SSE */
#define FPTAG_EMPTY 0xFFFF

struct float80 {
    uint64_t mantissa;
    uint16_t exponent;
};

/* A thread's registers while another runs (twz_switch_cpu): what a thread of a CPL3 program can change. The x87 and
 * SSE control and data registers are kept as Unicorn reads them, one 16-byte slot each; the vector registers as the
 * CPU state holds them (vector_bytes of them follow). */
struct twz_cpu {
    uint64_t gpr[NUM_GPRS];
    uint64_t rip;
    uint64_t rflags;
    uint64_t fs_base;
    uint64_t gs_base;
    uint64_t fpu[NUM_FPU_REGS][2];
    uint8_t vectors[];
};

/* A thread's part of the engine (machine/engine.py EngineThread): its tables, and what it ran while another runs. */
struct twz_thread {
    struct twz_compartment *compartments;
    struct twz_context *pairs;
    struct twz_crossing *stack;
    struct twz_cpu *cpu; /* its registers while another thread runs */
    uint64_t cr3;
    uint64_t gate_pte;
    uint64_t gate_buffer;
    int32_t depth;
    int32_t current;
    int32_t current_stack;
    int32_t reserved;
};

struct twz_state {
    /* the machine's part, set at boot */
    void *uc;
    reg_write_fn reg_write;
    reg_read_fn reg_read;
    reg_write_batch_fn reg_write_batch;
    int32_t fpu_registers[NUM_FPU_REGS];
    int32_t cr3_register;
    int32_t eflags_register;
    int32_t gs_base_register;
    int32_t reserved_register;
    intr_hook python_hook;
    uint64_t *gpr;
    uint64_t *rip;
    uint64_t *cr2;
    uint64_t *fs_base;
    int32_t *old_exception;
    int32_t *error_code;
    int32_t *exception_is_int; /* nonzero: the event is an `int n` instruction, not a CPU exception */
    uint8_t *vectors;
    uint64_t vector_bytes;
    uint8_t *ram;
    uint64_t ram_size;
    uint64_t cr3; /* the root loaded now */
    int32_t hypercalls_allowed;
    int32_t fast;   /* the hook carries out crossings itself (off: no crossings yet, or tracing) */
    int32_t held;   /* a fault is pending for the run loop: hand everything to Python */
    int32_t status; /* what the hook's twz_transfer answered before calling Python; -1: it did not try */
    /* the monitor's part */
    struct twz_compartment *compartments;
    struct twz_context *pairs; /* [callee * num_compartments + caller]: the callee's tables for that caller */
    struct twz_gate *gates;
    struct twz_crossing *stack;
    uint64_t gate_mask;        /* the gate table has gate_mask + 1 slots, a power of two */
    uint64_t return_point;
    uint64_t gate_buffer;      /* the gate buffer's virtual address, the same in every compartment */
    uint64_t gate_pte;         /* the leaf entry of the gate buffer in the page tables loaded now (0: none) */
    uint64_t need_address;     /* TWZ_NEED_PAGE: this page of the address space rooted at need_cr3 */
    uint64_t need_cr3;
    int32_t need_compartment;  /* TWZ_NEED_CONTEXT, TWZ_NEED_INIT: the callee, and for a context its caller */
    int32_t need_caller;
    int32_t refusal;           /* TWZ_REFUSED: why (REFUSED_*) */
    int32_t num_compartments;
    int32_t current;           /* the compartment running, -1 for none */
    int32_t current_stack;     /* the compartment whose stack it runs on */
    int32_t depth;
    int32_t capacity;
    int32_t monitor;
    struct twz_crossing last;  /* what the latest return popped */
    uint8_t rules[NUM_LEVELS][NUM_LEVELS]; /* [caller level][gate level]: RULE_* bits */
    /* --quantum: the running thread's instructions left, counted a translated block at a time (twz_on_block) */
    struct twz_block *blocks;
    uint64_t block_mask;        /* the block table has block_mask + 1 slots, a power of two */
    vmem_read_fn vmem_read;     /* a block not in the table yet: its bytes, read through the page tables loaded now */
    disasm_iter_fn disasm_iter; /* and decoded, to count its instructions */
    uint64_t disassembler;      /* capstone's handle (x86-64, no details) */
    void *instruction;          /* capstone's room for one decoded instruction */
    emu_stop_fn emu_stop;
    quantum_fn quantum_hook;    /* when a budget is spent: the scheduler switches threads there and then, if it can */
    int64_t budget;
    int32_t expired;            /* the budget ran out: the machine stopped for the scheduler */
    int32_t reserved;
    struct twz_block last_block; /* the block counted last */
};

/* Every field's offset, for the Python mirrors to be checked against field by field. */
struct twz_field {
    const char *name;
    uint64_t offset;
    uint64_t size;
};
#define FIELD(type, field) {#type "." #field, offsetof(struct type, field), sizeof(((struct type *)0)->field)}
static const struct twz_field fields[] = {
    FIELD(twz_context, cr3), FIELD(twz_context, gate_pte),
    FIELD(twz_compartment, base), FIELD(twz_compartment, thread_pointer), FIELD(twz_compartment, stack_base),
    FIELD(twz_compartment, stack_top), FIELD(twz_compartment, caller_slot), FIELD(twz_compartment, gate_buffer),
    FIELD(twz_compartment, return_sites), FIELD(twz_compartment, num_return_sites),
    FIELD(twz_compartment, lifecycle), FIELD(twz_compartment, stale), FIELD(twz_compartment, caller_level),
    FIELD(twz_compartment, empty),
    FIELD(twz_gate, entry), FIELD(twz_gate, owner), FIELD(twz_gate, index), FIELD(twz_gate, arity),
    FIELD(twz_gate, level),
    FIELD(twz_crossing, caller), FIELD(twz_crossing, callee), FIELD(twz_crossing, gate), FIELD(twz_crossing, stack),
    FIELD(twz_crossing, context), FIELD(twz_crossing, rsp), FIELD(twz_crossing, return_address),
    FIELD(twz_crossing, saved), FIELD(twz_crossing, callee_rsp), FIELD(twz_crossing, fpcw),
    FIELD(twz_crossing, reserved), FIELD(twz_crossing, mxcsr),
    FIELD(twz_state, uc), FIELD(twz_state, reg_write), FIELD(twz_state, reg_read), FIELD(twz_state, reg_write_batch),
    FIELD(twz_state, fpu_registers), FIELD(twz_state, cr3_register), FIELD(twz_state, eflags_register),
    FIELD(twz_state, gs_base_register), FIELD(twz_state, reserved_register),
    FIELD(twz_cpu, gpr), FIELD(twz_cpu, rip), FIELD(twz_cpu, rflags), FIELD(twz_cpu, fs_base), FIELD(twz_cpu, gs_base),
    FIELD(twz_cpu, fpu),
    FIELD(twz_thread, compartments), FIELD(twz_thread, pairs), FIELD(twz_thread, stack), FIELD(twz_thread, cpu),
    FIELD(twz_thread, cr3), FIELD(twz_thread, gate_pte), FIELD(twz_thread, gate_buffer), FIELD(twz_thread, depth),
    FIELD(twz_thread, current), FIELD(twz_thread, current_stack), FIELD(twz_thread, reserved),
    FIELD(twz_state, python_hook), FIELD(twz_state, gpr), FIELD(twz_state, rip), FIELD(twz_state, cr2),
    FIELD(twz_state, fs_base), FIELD(twz_state, old_exception), FIELD(twz_state, error_code),
    FIELD(twz_state, exception_is_int), FIELD(twz_state, vectors), FIELD(twz_state, vector_bytes),
    FIELD(twz_state, ram), FIELD(twz_state, ram_size), FIELD(twz_state, cr3), FIELD(twz_state, hypercalls_allowed),
    FIELD(twz_state, fast), FIELD(twz_state, held), FIELD(twz_state, status), FIELD(twz_state, compartments),
    FIELD(twz_state, pairs), FIELD(twz_state, gates), FIELD(twz_state, stack), FIELD(twz_state, gate_mask),
    FIELD(twz_state, return_point), FIELD(twz_state, gate_buffer), FIELD(twz_state, gate_pte),
    FIELD(twz_state, need_address), FIELD(twz_state, need_cr3), FIELD(twz_state, need_compartment),
    FIELD(twz_state, need_caller), FIELD(twz_state, refusal), FIELD(twz_state, num_compartments),
    FIELD(twz_state, current),
    FIELD(twz_state, current_stack), FIELD(twz_state, depth), FIELD(twz_state, capacity), FIELD(twz_state, monitor),
    FIELD(twz_state, last), FIELD(twz_state, rules), FIELD(twz_state, blocks), FIELD(twz_state, block_mask),
    FIELD(twz_state, vmem_read), FIELD(twz_state, disasm_iter), FIELD(twz_state, disassembler),
    FIELD(twz_state, instruction), FIELD(twz_state, emu_stop), FIELD(twz_state, quantum_hook),
    FIELD(twz_state, budget), FIELD(twz_state, expired),
    FIELD(twz_state, reserved), FIELD(twz_state, last_block),
    FIELD(twz_block, address), FIELD(twz_block, size), FIELD(twz_block, count),
};

uint64_t twz_num_fields(void)
{
    return sizeof(fields) / sizeof(fields[0]);
}

const struct twz_field *twz_field(uint64_t i)
{
    return i < twz_num_fields() ? &fields[i] : NULL;
}

/* What the Python side mirrors of the register layout, checked when the library is loaded (fastpath.load):
 * positions in the general-register array (x86 encoding order), the order of fpu_registers, and the initial
 * floating-point control words. */
static const int64_t constants[] = {
    NUM_GPRS, RAX, RSP, RDI, RSI, RDX, RCX, R8, R9, NUM_FPU_REGS, FPU_CW, FPU_MXCSR, FPU_ST0,
    FPCW_DEFAULT, MXCSR_DEFAULT, FPTAG_EMPTY,
};

int64_t twz_constant(uint64_t i)
{
    return i < sizeof(constants) / sizeof(constants[0]) ? constants[i] : -1;
}

/* The struct sizes, for the Python side to check its mirror against. */
uint64_t twz_sizeof(int what)
{
    switch (what) {
    case 0: return sizeof(struct twz_state);
    case 1: return sizeof(struct twz_compartment);
    case 2: return sizeof(struct twz_gate);
    case 3: return sizeof(struct twz_crossing);
    case 4: return sizeof(struct twz_context);
    case 5: return sizeof(struct twz_block);
    case 6: return sizeof(struct twz_cpu);
    case 7: return sizeof(struct twz_thread);
    default: return 0;
    }
}

void twz_write_cr3(struct twz_state *st, uint64_t root)
{
    st->reg_write(st->uc, st->cr3_register, &root); /* flushes Unicorn's TLB, as a real CR3 load does */
    st->cr3 = root;
}

static int valid(const struct twz_state *st, int32_t id)
{
    return id >= 0 && id < st->num_compartments && st->compartments[id].base.cr3;
}

/* The leaf entry that maps va in the tables rooted at cr3 (its physical address), or 0 if a table on the way
 * is not present or lies outside RAM. */
static uint64_t leaf_entry(const struct twz_state *st, uint64_t cr3, uint64_t va)
{
    if (va >> 47)
        return 0;
    uint64_t table = cr3 & ADDRESS_MASK;
    for (int shift = 39;; shift -= 9) {
        if (table + PAGE_SIZE > st->ram_size)
            return 0;
        uint64_t at = table + ((va >> shift) & 511) * 8, entry;
        if (shift == 12)
            return at;
        memcpy(&entry, st->ram + at, 8);
        if (!(entry & PTE_PRESENT) || (entry & PTE_HUGE)) /* twzemu maps 4 KiB pages only */
            return 0;
        table = entry & ADDRESS_MASK;
    }
}

/* The host address of the 8 bytes at va (8-byte aligned) in the address space rooted at cr3, as a user access
 * of that space may touch them: NULL unless the leaf is present and user (and writable, for a write). */
static uint8_t *user_word(const struct twz_state *st, uint64_t cr3, uint64_t va, int write)
{
    if (va & 7)
        return NULL;
    uint64_t at = leaf_entry(st, cr3, va), entry;
    if (!at)
        return NULL;
    memcpy(&entry, st->ram + at, 8);
    uint64_t need = PTE_PRESENT | PTE_USER | (write ? PTE_WRITABLE : 0);
    if ((entry & need) != need)
        return NULL;
    uint64_t pa = (entry & ADDRESS_MASK) | (va & PAGE_MASK);
    return pa + 8 <= st->ram_size ? st->ram + pa : NULL;
}

/* Whether va's page is absent from the tables rooted at cr3 (so backing it may help), as opposed to present
 * with rights that forbid the access. */
static int absent(const struct twz_state *st, uint64_t cr3, uint64_t va)
{
    uint64_t at = leaf_entry(st, cr3, va), entry;
    if (!at)
        return 1;
    memcpy(&entry, st->ram + at, 8);
    return !(entry & PTE_PRESENT);
}

static int refuse(struct twz_state *st, int32_t why)
{
    st->refusal = why;
    return TWZ_REFUSED;
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
    for (uint64_t i = gate_hash(address), n = 0; n <= st->gate_mask; i++, n++) {
        const struct twz_gate *g = &st->gates[i & st->gate_mask];
        if (g->owner < 0)
            return NULL;
        if (g->entry == address)
            return g;
    }
    return NULL;
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

static void put_u64(const struct twz_state *st, uint64_t pa, uint64_t value)
{
    if (pa && pa + 8 <= st->ram_size)
        memcpy(st->ram + pa, &value, 8);
}

/* The gate buffer's entry in a context: writable while the compartment's buffer is its own message, read-only
 * while it is stale (the first write then faults, and starts a new message). */
static void set_gate_pte(const struct twz_state *st, uint64_t pte, int stale)
{
    if (!pte || pte + 8 > st->ram_size)
        return;
    uint64_t entry;
    memcpy(&entry, st->ram + pte, 8);
    entry = stale ? entry & ~PTE_WRITABLE : entry | PTE_WRITABLE;
    memcpy(st->ram + pte, &entry, 8);
}

/* Make compartment id the running one, in context ctx, on stack's stack: its page tables (always reloaded: the
 * gate buffer's entry may just have changed), its thread pointer; only the monitor may hypercall. */
static void load(struct twz_state *st, int32_t id, struct twz_context ctx, int32_t stack)
{
    const struct twz_compartment *c = &st->compartments[id];
    set_gate_pte(st, ctx.gate_pte, c->stale);
    twz_write_cr3(st, ctx.cr3);
    st->gate_pte = ctx.gate_pte;
    *st->fs_base = c->thread_pointer;
    st->current = id;
    st->current_stack = stack;
    st->hypercalls_allowed = id == st->monitor;
}

/* Empty the x87 stack and zero its registers and pointers, clear the status words, load the given control
 * words: nothing of one compartment's floating-point state reaches another but the control words a caller
 * keeps. */
static void reset_fpu(const struct twz_state *st, uint16_t fpcw, uint32_t mxcsr)
{
    uint16_t sw = 0, tag = FPTAG_EMPTY;
    uint32_t csr = mxcsr;
    uint64_t zero64 = 0;
    static const struct float80 zero = {0, 0};
    void *values[NUM_FPU_REGS] = {&fpcw, &sw, &tag, &csr, &zero64, &zero64, &zero64, &zero64, &zero64};
    for (int i = FPU_ST0; i < NUM_FPU_REGS; i++)
        values[i] = (void *)&zero;
    st->reg_write_batch(st->uc, st->fpu_registers, values, NUM_FPU_REGS);
}

/* Zero every general, vector and x87 register and the flags; fpcw and mxcsr become the control words. Nothing
 * of the code that ran before (another compartment) stays: callers put back what passes. */
static void clear_registers(const struct twz_state *st, uint16_t fpcw, uint32_t mxcsr)
{
    uint64_t flags = RFLAGS_START;
    memset(st->gpr, 0, NUM_GPRS * 8);
    memset(st->vectors, 0, st->vector_bytes);
    st->reg_write(st->uc, st->eflags_register, &flags);
    reset_fpu(st, fpcw, mxcsr);
}

/* Run compartment id from a clean CPU outside any crossing (the program at its start). */
void twz_resume(struct twz_state *st, int32_t id)
{
    if (!valid(st, id))
        return;
    st->depth = 0;
    load(st, id, st->compartments[id].base, id);
    clear_registers(st, FPCW_DEFAULT, MXCSR_DEFAULT);
}

/* The lowest live frame on compartment owner's stack, seen from the crossing c about to be pushed: the rsp of
 * the innermost code that runs or is suspended on that stack (c's caller first, then each crossing's caller
 * from the innermost out; a call the monitor makes in the middle of someone's crossing, an on-demand
 * initialiser, records the code it interrupted), or 0 if nothing lives on it. */
static uint64_t lowest_live_frame(const struct twz_state *st, const struct twz_crossing *c, int32_t owner)
{
    if (c->stack == owner && c->rsp)
        return c->rsp;
    for (int32_t i = st->depth - 1; i >= 0; i--)
        if (st->stack[i].stack == owner && st->stack[i].rsp) /* the monitor's calls record what they interrupted */
            return st->stack[i].rsp;
    return 0;
}

/* Where the callee's frame goes (its return slot: rsp at entry), on stack owner's stack, or 0 if nowhere: below
 * every live frame on that stack, and inside its stack object. */
static uint64_t frame_for(const struct twz_state *st, const struct twz_crossing *c, int32_t owner)
{
    const struct twz_compartment *s = &st->compartments[owner];
    uint64_t live = lowest_live_frame(st, c, owner);
    if (!live)
        return s->stack_top - 8;
    if (live <= s->stack_base + RED_ZONE + 64 || live > s->stack_top)
        return 0; /* its rsp left its stack: a frame there could land on anything */
    return ((live - RED_ZONE) & ~0xFull) - 8; /* 16-byte aligned minus 8, as at any function entry */
}

/* Hand from's message to to: from's buffer if it wrote it since it last sent or received one, else nothing
 * (zeros). A message crosses once: afterwards both buffers are stale (read-only; the first write into a stale
 * buffer starts a new, empty message), so nothing one side sent or received is ever passed on to a third
 * compartment unless that side writes it again. */
static void send_message(const struct twz_state *st, struct twz_compartment *from, struct twz_compartment *to)
{
    if (!from->gate_buffer || !to->gate_buffer || from->gate_buffer + PAGE_SIZE > st->ram_size ||
        to->gate_buffer + PAGE_SIZE > st->ram_size)
        return;
    if (from->stale) {
        if (!(to->stale && to->empty)) /* a crossing that sends nothing costs nothing the second time */
            memset(st->ram + to->gate_buffer, 0, PAGE_SIZE);
        to->empty = 1;
    } else {
        memcpy(st->ram + to->gate_buffer, st->ram + from->gate_buffer, PAGE_SIZE);
        to->empty = 0;
    }
    from->stale = from != &st->compartments[st->monitor]; /* what the monitor answers is its own to repeat */
    to->stale = 1;
}

/* A call answered without entering (a failed callee, a refusal the monitor reported) used up the caller's
 * message: its buffer is stale, and read-only in the page tables it goes on running in (the first write then
 * starts a new message, as after any crossing). */
static void consume_message(struct twz_state *st)
{
    struct twz_compartment *c = &st->compartments[st->current];
    if (c->stale)
        return;
    c->stale = 1;
    set_gate_pte(st, st->gate_pte, 1);
    twz_write_cr3(st, st->cr3); /* drop the writable translation */
}

static int switch_into(struct twz_state *st, struct twz_crossing *c, uint64_t entry, int32_t arity, uint8_t rules)
{
    struct twz_compartment *callee = &st->compartments[c->callee];
    struct twz_context ctx = callee->base;
    if (c->caller >= 0 && (rules & RULE_CALLEE_SEES_CALLER)) {
        ctx = st->pairs[(int64_t)c->callee * st->num_compartments + c->caller];
        if (!ctx.cr3) {
            st->need_compartment = c->callee;
            st->need_caller = c->caller;
            return TWZ_NEED_CONTEXT;
        }
    }
    /* At level none the callee runs on its caller's stack, if that is the caller's own (a stack the caller
     * borrows at level none is its lender's, whom this callee is not trusted by): else on a fresh one. */
    const struct twz_compartment *lender = c->caller >= 0 ? &st->compartments[c->caller] : NULL;
    int shared = lender && !(rules & RULE_FRESH_STACK) && c->stack == c->caller &&
                 c->rsp > lender->stack_base + RED_ZONE + 64 && c->rsp <= lender->stack_top - 8;
    /* (and only while the caller's rsp lies in its stack: aimed anywhere else, e.g. at its gate buffer, which is
     * the callee's own at the same address, the frame could land on what the callee keeps) */
    int32_t owner = shared ? c->caller : c->callee;
    uint64_t top = shared ? c->rsp - 16 : frame_for(st, c, owner); /* shared: keeps the caller's return address */
    if (!top)
        return refuse(st, REFUSED_NO_FRAME);
    uint8_t *slot = user_word(st, ctx.cr3, top, 1);
    if (!slot) {
        if (!absent(st, ctx.cr3, top))
            return refuse(st, REFUSED_NO_FRAME); /* present but not the callee's to write: no frame goes there */
        st->need_address = top;
        st->need_cr3 = ctx.cr3;
        return TWZ_NEED_PAGE;
    }
    if (st->depth >= st->capacity)
        return TWZ_TOO_DEEP;
    memcpy(slot, &st->return_point, 8);
    put_u64(st, callee->caller_slot, (uint64_t)(int64_t)(c->caller < 0 ? st->monitor : c->caller));
    if (c->caller >= 0 && c->callee == st->monitor)
        callee->stale = 1; /* the monitor reads what it needs through its client's page tables: nothing to send */
    else if (c->caller >= 0)
        send_message(st, &st->compartments[c->caller], callee);
    struct twz_crossing *pushed = &st->stack[st->depth++];
    *pushed = *c;
    pushed->callee_rsp = top;
    st->reg_read(st->uc, st->fpu_registers[FPU_CW], &pushed->fpcw);
    st->reg_read(st->uc, st->fpu_registers[FPU_MXCSR], &pushed->mxcsr);
    load(st, c->callee, ctx, owner);
    static const int arguments[6] = {RDI, RSI, RDX, RCX, R8, R9};
    uint64_t *r = st->gpr, passed[6];
    if (arity < 0 || arity > 6)
        arity = 6;
    for (int i = 0; i < arity; i++)
        passed[i] = r[arguments[i]];
    clear_registers(st, FPCW_DEFAULT, MXCSR_DEFAULT); /* gates take integers: the arguments pass, nothing else */
    for (int i = 0; i < arity; i++)
        r[arguments[i]] = passed[i];
    r[RSP] = top; /* the callee's stack */
    *st->rip = entry;
    return TWZ_ENTERED;
}

/* The return address of a call that is entering a gate now (at the caller's rsp), checked: 0 if refused,
 * 1 with *out set, or TWZ_NEED_PAGE's address noted. */
static int read_return_address(struct twz_state *st, uint64_t *out)
{
    const struct twz_compartment *caller = &st->compartments[st->current];
    uint64_t rsp = st->gpr[RSP];
    if (rsp & 7) /* a call leaves rsp as aligned as it found it, and the psABI keeps it 16-byte aligned */
        return refuse(st, REFUSED_NOT_AFTER_CALL);
    const uint8_t *at = user_word(st, st->cr3, rsp, 0);
    if (!at) {
        if (!absent(st, st->cr3, rsp))
            return refuse(st, REFUSED_NOT_AFTER_CALL);
        st->need_address = rsp; /* after a tail call from a gate, nothing may have touched that page yet */
        st->need_cr3 = st->cr3;
        return TWZ_NEED_PAGE;
    }
    memcpy(out, at, 8);
    /* A tail call from inside a gate leaves the return point as the return address: the callee returns there,
     * which also ends the tail-calling crossing. Anything else must follow a call instruction. */
    if (*out != st->return_point && !follows_call(caller, *out))
        return refuse(st, REFUSED_NOT_AFTER_CALL);
    return TWZ_PASS;
}

static int enter(struct twz_state *st, const struct twz_gate *gate)
{
    if (!valid(st, gate->owner) || gate->level < 0 || gate->level >= NUM_LEVELS)
        return refuse(st, REFUSED_NO_COMPARTMENT);
    const struct twz_compartment *caller = &st->compartments[st->current];
    uint64_t return_address;
    int checked = read_return_address(st, &return_address);
    if (checked != TWZ_PASS)
        return checked;
    int32_t lifecycle = st->compartments[gate->owner].lifecycle;
    if (lifecycle == FAILED) {
        consume_message(st); /* the message was for this crossing: it goes nowhere else */
        uint64_t *r = st->gpr;
        r[RAX] = TWZ_EPERM;
        r[RSP] += 8;
        *st->rip = return_address;
        return TWZ_ANSWERED;
    }
    if (lifecycle != READY) {
        st->need_compartment = gate->owner;
        st->need_caller = st->current;
        return TWZ_NEED_INIT;
    }
    int32_t level = caller->caller_level >= 0 && caller->caller_level < NUM_LEVELS ? caller->caller_level : 3;
    uint64_t *r = st->gpr;
    struct twz_crossing c = {st->current, gate->owner, gate->index, st->current_stack,
                             {st->cr3, st->gate_pte}, r[RSP], return_address,
                             {r[RBX], r[RBP], r[R12], r[R13], r[R14], r[R15]}, 0, 0, 0, 0};
    return switch_into(st, &c, gate->entry, gate->arity, st->rules[level][gate->level]);
}

/* Answer the call that is entering a gate now with value, without entering (a refusal the monitor reported). */
int twz_answer(struct twz_state *st, uint64_t value)
{
    if (!valid(st, st->current))
        return refuse(st, REFUSED_NO_COMPARTMENT);
    uint64_t return_address;
    int checked = read_return_address(st, &return_address);
    if (checked != TWZ_PASS)
        return checked;
    consume_message(st); /* the message was for this crossing: it goes nowhere else */
    st->gpr[RAX] = value;
    st->gpr[RSP] += 8;
    *st->rip = return_address;
    return TWZ_ANSWERED;
}

/* The caller id compartment id sees in its TCB once the innermost crossing is gone (-1: not in a gate). */
static int64_t caller_seen_by(const struct twz_state *st, int32_t id)
{
    for (int32_t i = st->depth - 1; i >= 0; i--)
        if (st->stack[i].callee == id)
            return st->stack[i].caller < 0 ? st->monitor : st->stack[i].caller;
    return -1;
}

/* End the innermost crossing: the caller gets value in rax and its own registers back; with reply, also the
 * callee's message if it wrote one (a normal return), else its gate buffer stays as it was (an unwind). */
int twz_unwind(struct twz_state *st, uint64_t value, int reply)
{
    if (st->depth <= 0 || st->depth > st->capacity)
        return TWZ_PASS;
    struct twz_crossing c = st->stack[--st->depth];
    st->last = c;
    if (!valid(st, c.callee))
        return TWZ_PASS;
    struct twz_compartment *callee = &st->compartments[c.callee];
    put_u64(st, callee->caller_slot, (uint64_t)caller_seen_by(st, c.callee));
    uint64_t *r = st->gpr;
    if (c.caller < 0 || !valid(st, c.caller)) {
        st->current = -1;
        r[RAX] = value;
        return TWZ_FINISHED;
    }
    struct twz_compartment *caller = &st->compartments[c.caller];
    if (reply && !callee->stale)
        send_message(st, callee, caller);
    load(st, c.caller, c.context, c.stack);
    /* rax passes; the caller's callee-saved registers and its own MXCSR come back: its control bits, and the
     * exception flags it had raised before the call (C11 7.6: a call does not clear them; none of the callee's) */
    clear_registers(st, c.fpcw, c.mxcsr);
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
    if (!valid(st, st->current))
        return TWZ_PASS;
    if (address == st->return_point) {
        if (st->depth <= 0)
            return TWZ_PASS;
        if (st->stack[st->depth - 1].caller < 0)
            return TWZ_MONITOR_RETURN;
        return twz_unwind(st, st->gpr[RAX], 1);
    }
    const struct twz_gate *gate = gate_at(st, address);
    if (!gate || gate->owner == st->current) /* its own code, perhaps not yet in its page tables */
        return TWZ_PASS;
    return enter(st, gate);
}

/* The monitor calls entry in compartment id (an initialiser, a finaliser, a function `twzemu call` names) with the
 * first arity argument registers as they are now; it returns through the return point. Its frame goes below
 * every live frame on id's stack. */
int twz_call(struct twz_state *st, int32_t id, uint64_t entry, int32_t arity)
{
    if (!valid(st, id))
        return refuse(st, REFUSED_NO_COMPARTMENT);
    /* In the middle of someone's code (an on-demand initialiser), that code's frames stay live: record them. */
    int interrupted = valid(st, st->current);
    struct twz_crossing c = {-1, id, -1, interrupted ? st->current_stack : -1, {st->cr3, st->gate_pte},
                             interrupted ? st->gpr[RSP] : 0, 0, {0}, 0, 0, 0, 0};
    return switch_into(st, &c, entry, arity < 0 || arity > 6 ? 0 : arity, RULE_FRESH_STACK);
}

/* A write fault on the gate buffer while it is stale: the write starts a new message. */
static int new_message(struct twz_state *st)
{
    if (!valid(st, st->current) || (*st->cr2 & ~PAGE_MASK) != st->gate_buffer || !st->gate_pte)
        return 0;
    struct twz_compartment *c = &st->compartments[st->current];
    if (!c->stale || c->gate_buffer + PAGE_SIZE > st->ram_size)
        return 0;
    memset(st->ram + c->gate_buffer, 0, PAGE_SIZE);
    c->stale = 0;
    c->empty = 0;
    set_gate_pte(st, st->gate_pte, 0);
    twz_write_cr3(st, st->cr3); /* drop the read-only translation */
    return 1;
}

void twz_on_intr(void *uc, uint32_t intno, void *data)
{
    struct twz_state *st = data;
    *st->old_exception = -1; /* unicorn #1883: never let the next fault become a double fault */
    st->status = -1;
    int software = st->exception_is_int && *st->exception_is_int; /* `int 0x0e` is no page fault */
    if (intno == PAGE_FAULT && !software && !st->held) {
        uint32_t code = (uint32_t)*st->error_code;
        if ((code & (PF_PRESENT | PF_WRITE)) == (PF_PRESENT | PF_WRITE) && new_message(st))
            return;
        if (st->fast && (code & PF_FETCH)) {
            st->status = twz_transfer(st, *st->cr2);
            if (st->status == TWZ_ENTERED || st->status == TWZ_RETURNED || st->status == TWZ_ANSWERED)
                return;
        }
    }
    st->python_hook(uc, intno, NULL);
}

/* How many instructions the size bytes at address hold, decoded up to the first that does not decode; at least one
 * (a block whose bytes cannot be read counts one). */
static uint32_t instructions_in(struct twz_state *st, void *uc, uint64_t address, uint32_t size)
{
    uint8_t code[BLOCK_BYTES_MAX];
    if (size == 0 || size > sizeof code || st->vmem_read(uc, address, UC_PROT_EXEC, code, size) != 0)
        return 1;
    const uint8_t *at = code;
    size_t left = size;
    uint64_t pc = address;
    uint32_t count = 0;
    while (left && st->disasm_iter(st->disassembler, &at, &left, &pc, st->instruction))
        count++;
    return count ? count : 1;
}

/* A block other than the one counted last: its instructions (from the table, else decoded and kept in the table)
 * count against the budget, and it is the block counted last. Out of line: the hook's common case stays a leaf. */
__attribute__((noinline, cold)) static void spend_on_new_block(struct twz_state *st, void *uc, uint64_t address,
                                                               uint32_t size)
{
    uint32_t count = 0;
    struct twz_block *free_slot = NULL;
    uint64_t start = gate_hash(address);
    for (uint64_t n = 0; st->blocks && n < BLOCK_PROBES && !count; n++) {
        struct twz_block *b = &st->blocks[(start + n) & st->block_mask];
        if (b->count && b->address == address && b->size == size)
            count = b->count;
        else if (!b->count && !free_slot)
            free_slot = b;
    }
    if (!count) {
        count = instructions_in(st, uc, address, size);
        if (st->blocks)
            *(free_slot ? free_slot : &st->blocks[start & st->block_mask]) = (struct twz_block){address, size, count};
    }
    st->last_block = (struct twz_block){address, size, count};
    st->budget -= count;
}

/* The running thread's quantum is over, at the start of a block it has not run yet: the scheduler runs in this hook
 * (it sets the next quantum's budget, and Unicorn begins the block again at whatever RIP it leaves, without leaving
 * emu_start: the next thread's, or this one's in its next quantum); if it declines, the machine stops for it. */
__attribute__((noinline, cold)) static void quantum_over(struct twz_state *st, void *uc)
{
    if (st->expired)
        return; /* a stop for the scheduler is on its way */
    if (st->quantum_hook && st->quantum_hook(uc))
        return;
    st->expired = 1;
    st->emu_stop(uc);
}

/* The scheduler's quantum: Unicorn's block hook in a program that may have threads (Unicorn 2.1 calls it straight
 * from the translated block when it is the only block hook). A block's instructions count against the running
 * thread's budget as the block starts; the quantum ends at the start of the first block after the budget ran out
 * (determinism at block granularity, and every quantum runs at least one block: a block longer than the quantum is
 * no livelock). The common case — the block counted last again, as in a loop — is a leaf of a few loads and a
 * store; no Python runs. */
void twz_on_block(void *uc, uint64_t address, uint32_t size, void *data)
{
    struct twz_state *st = data;
    if (__builtin_expect(st->budget <= 0, 0)) {
        quantum_over(st, uc);
        return;
    }
    const struct twz_block *last = &st->last_block;
    if (__builtin_expect(last->address != address || last->size != size || !last->count, 0)) {
        spend_on_new_block(st, uc, address, size);
        return;
    }
    st->budget -= last->count;
}

/* The running thread's registers into save (unless NULL), load's into the CPU. In a syscall hook (in_syscall),
 * Unicorn's helper moves RIP past the `syscall` (2 bytes) once the hook returns: the saved thread goes on after its
 * syscall, and the loaded one's RIP is set 2 bytes short. */
static void switch_cpu(struct twz_state *st, struct twz_cpu *save, const struct twz_cpu *load, int in_syscall)
{
    if (save) {
        memcpy(save->gpr, st->gpr, sizeof save->gpr);
        save->rip = *st->rip + (in_syscall ? 2 : 0);
        save->fs_base = *st->fs_base;
        st->reg_read(st->uc, st->eflags_register, &save->rflags);
        st->reg_read(st->uc, st->gs_base_register, &save->gs_base);
        memcpy(save->vectors, st->vectors, st->vector_bytes);
        memset(save->fpu, 0, sizeof save->fpu);
        st->reg_read(st->uc, st->fpu_registers[FPU_TAG], save->fpu[FPU_TAG]);
        /* x87 registers all empty (as in code that uses none): their contents are zeros to the next thread */
        int registers = save->fpu[FPU_TAG][0] == FPTAG_EMPTY ? FPU_ST0 : NUM_FPU_REGS;
        for (int i = 0; i < registers; i++)
            if (i != FPU_TAG)
                st->reg_read(st->uc, st->fpu_registers[i], save->fpu[i]);
    }
    memcpy(st->gpr, load->gpr, sizeof load->gpr);
    *st->rip = load->rip - (in_syscall ? 2 : 0);
    *st->fs_base = load->fs_base;
    uint64_t flags = load->rflags;
    st->reg_write(st->uc, st->eflags_register, &flags);
    st->reg_write(st->uc, st->gs_base_register, &load->gs_base);
    memcpy(st->vectors, load->vectors, st->vector_bytes);
    void *values[NUM_FPU_REGS];
    for (int i = 0; i < NUM_FPU_REGS; i++)
        values[i] = (void *)load->fpu[i];
    st->reg_write_batch(st->uc, st->fpu_registers, values, NUM_FPU_REGS);
}

/* Save what the running thread has of the engine into save (its registers too, unless it ended: save_registers
 * 0), and make load's what runs: its tables, its page tables (CR3, which flushes the TLB), its registers. */
void twz_switch_thread(struct twz_state *st, struct twz_thread *save, const struct twz_thread *load,
                       int save_registers, int in_syscall)
{
    save->depth = st->depth;
    save->current = st->current;
    save->current_stack = st->current_stack;
    save->cr3 = st->cr3;
    save->gate_pte = st->gate_pte;
    st->compartments = load->compartments;
    st->pairs = load->pairs;
    st->stack = load->stack;
    st->depth = load->depth;
    st->current = load->current;
    st->current_stack = load->current_stack;
    st->gate_pte = load->gate_pte;
    st->gate_buffer = load->gate_buffer;
    st->hypercalls_allowed = load->current == st->monitor;
    if (load->cr3)
        twz_write_cr3(st, load->cr3);
    switch_cpu(st, save_registers ? save->cpu : NULL, load->cpu, in_syscall);
}
