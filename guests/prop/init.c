/* What compartment SELF's initialiser does (guests/prop/prop.c's script language): built as libinit<SELF>.so
 * in VARIANT 0..3 (tests/test_adversarial.py picks one per compartment with -L and reads the script back from
 * the file). A library's initialiser calls only libraries of lower number, so initialisers never wait for each
 * other in a cycle; the program's (SELF 0) runs after every library's. */
#define SCRIPT_(self, variant) SCRIPT_##self##_##variant
#define SCRIPT(self, variant) SCRIPT_(self, variant)

#define SCRIPT_0_0 ""
#define SCRIPT_0_1 "c1*d{Rd} a1d c2*-{r1d}"
#define SCRIPT_0_2 "c2*-{r0d w0h S}"
#define SCRIPT_0_3 "c3*-{q}"
#define SCRIPT_1_0 ""
#define SCRIPT_1_1 "r1d w1h r1l"
#define SCRIPT_1_2 "p1 h"
#define SCRIPT_1_3 "x1 r1t S"
#define SCRIPT_2_0 ""
#define SCRIPT_2_1 "c1*d{Rd} r1d"
#define SCRIPT_2_2 "c1*-{r2d w2l S}"
#define SCRIPT_2_3 "c1*h{w2h Rh} w1h r1h"
#define SCRIPT_3_0 ""
#define SCRIPT_3_1 "c2*d{Rd} r2d"
#define SCRIPT_3_2 "c1*-{r3d} c2*-{c1*-{r3h}}"
#define SCRIPT_3_3 "c1*t{Rt} x1"

const char prop_init_script[] = SCRIPT(SELF, VARIANT);
