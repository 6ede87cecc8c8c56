# SPDX-License-Identifier: GPL-2.0 OR MIT
# libFuzzer target of exlbd/l7/http1.c (needs clang with libclang-rt, e.g.
# clang-14 + libclang-rt-14-dev). Nothing here is part of "all": only
#   make fuzz                 builds build/fuzz/fuzz_http1 and runs it for
#                             FUZZ_RUNS executions on a copy of the corpus
#   make fuzz FUZZ_RUNS=N     another count
# The seed corpus (fuzz/corpus-http1/) is not written to: new inputs go to
# build/fuzz/corpus-http1/. The first byte of an input selects the mode
# (see fuzz_http1.c).

include exlbd/llhttp.mk

FUZZ_CC ?= clang
FUZZ_RUNS ?= 1000000
FUZZ_FLAGS := -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer

.PHONY: fuzz
fuzz: $(B)/fuzz/fuzz_http1
	@mkdir -p $(B)/fuzz/corpus-http1
	$(B)/fuzz/fuzz_http1 -runs=$(FUZZ_RUNS) -max_len=4096 \
		-print_final_stats=1 $(B)/fuzz/corpus-http1 fuzz/corpus-http1

# llhttp is built again with the fuzzer's coverage instrumentation.
FUZZ_LLHTTP_OBJS := $(patsubst $(LLHTTP_SRCDIR)/%.c,$(B)/fuzz/llhttp/%.o,$(LLHTTP_SRCS))

$(B)/fuzz/llhttp/%.o: $(LLHTTP_SRCDIR)/%.c
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "make fuzz needs $(FUZZ_CC) (clang with libFuzzer)"; exit 1; }
	@mkdir -p $(@D)
	$(FUZZ_CC) $(LLHTTP_CPPFLAGS) $(FUZZ_FLAGS) -DLLHTTP_STRICT_MODE=1 -w \
		-c $< -o $@

$(B)/fuzz/fuzz_http1: fuzz/fuzz_http1.c exlbd/l7/http1.c exlbd/l7/http1.h \
		$(FUZZ_LLHTTP_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(LLHTTP_CPPFLAGS) -Iexlbd $(FUZZ_FLAGS) -Wall -Wextra \
		-Werror fuzz/fuzz_http1.c exlbd/l7/http1.c $(FUZZ_LLHTTP_OBJS) -lcrypto \
		-o $@
