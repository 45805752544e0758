/* Which gates of the other compartments compartment SELF is bound to: built as libbind<SELF>.so in VARIANT
 * 0..8 (tests/test_adversarial.py picks one per compartment with -L). Binding is the linker's: a relocation
 * of this compartment that names another compartment's gate (README "Isolation"). Variant 0 binds every gate
 * of every other compartment; variant v > 0 binds compartment c's gates of the levels in subset
 * (v - 1 + 3c + 5 SELF) mod 8 of SUBSET below, so that every pair meets each subset in some variant. */
typedef long gate_fn(long, long, long, long, long, long);

#define DECLARE(c) extern gate_fn prop##c##_0, prop##c##_1, prop##c##_2, prop##c##_3;
DECLARE(0)
DECLARE(1)
DECLARE(2)
DECLARE(3)

/* Level sets as bit masks (bit l: the level-l gate): {none}, {callee}, {caller}, {full}, {none, caller},
 * {none, full}, {callee, caller}, nothing. */
#define SUBSET(n) ((n) == 0 ? 1 : (n) == 1 ? 2 : (n) == 2 ? 4 : (n) == 3 ? 8 : (n) == 4 ? 5 : (n) == 5 ? 9 : (n) == 6 ? 6 : 0)
#define MASK(c) ((c) == SELF ? 0 : VARIANT == 0 ? 15 : SUBSET((VARIANT - 1 + 3 * (c) + 5 * SELF) % 8))
#define ENTRY(c, l) ((MASK(c) >> (l)) & 1 ? prop##c##_##l : (gate_fn *)0)
#define ROW(c) {ENTRY(c, 0), ENTRY(c, 1), ENTRY(c, 2), ENTRY(c, 3)}

gate_fn *const prop_bound[4][4] = {ROW(0), ROW(1), ROW(2), ROW(3)};
