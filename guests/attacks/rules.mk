# The attack suite of issue 4 (tests/test_attacks.py): programs that each link two isolated libraries,
# libvictim.so and libevil.so, and try one way across a compartment boundary. Included by guests/Makefile,
# whose variables it uses: TWZCC, BUILD, CFLAGS, RT, HEADERS.
ifndef ATTACKS_RULES_MK
ATTACKS_RULES_MK := 1

ATTACK_NAMES := leak call forge escape rsp stack wx tp hypercall regs
ATTACK_LIBS := $(BUILD)/attacks/libvictim.so $(BUILD)/attacks/libevil.so
ATTACKS := $(ATTACK_NAMES:%=$(BUILD)/attacks/%)

# (no default goal from this file, wherever it is included)
attacks_default_goal := $(.DEFAULT_GOAL)

$(ATTACK_LIBS): $(BUILD)/attacks/lib%.so: attacks/%.c attacks/attacks.h $(RT) $(HEADERS) | $(BUILD)/attacks
	$(TWZCC) $(CFLAGS) -shared -o $@ $<

$(ATTACKS): $(BUILD)/attacks/%: attacks/%.c attacks/attacks.h $(ATTACK_LIBS)
	$(TWZCC) $(CFLAGS) -o $@ $< -L$(BUILD)/attacks -lvictim -levil

$(BUILD)/attacks:
	mkdir -p $@

.DEFAULT_GOAL := $(attacks_default_goal)
endif
