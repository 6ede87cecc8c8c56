# SPDX-License-Identifier: GPL-2.0 OR MIT
# llhttp, from Debian's node-llhttp C sources (apt-get install node-llhttp),
# as a static library for exlbd (obj/) and for the sanitized tests (asan/).
# Included by exlbd/build.mk; tests/test_http1.mk and fuzz/build.mk include
# it too (it guards itself), so the order of inclusion does not matter.
#
# LLHTTP_STRICT_MODE selects llhttp's strict state machine (the sources
# hold both); no lenient flag is ever set at run time either. The sources
# are third-party: built without -Werror/-Wextra (they do warn).

ifndef LLHTTP_MK_INCLUDED
LLHTTP_MK_INCLUDED := 1

LLHTTP_SRCDIR ?= /usr/share/llhttp
LLHTTP_INCDIR ?= /usr/share/include/llhttp
LLHTTP_CPPFLAGS := -I$(LLHTTP_INCDIR)
LLHTTP_SRCS := $(addprefix $(LLHTTP_SRCDIR)/,llhttp.c api.c http.c)
LLHTTP_CFLAGS := -O2 -g -std=gnu11 -DLLHTTP_STRICT_MODE=1

$(B)/obj/llhttp/%.o: $(LLHTTP_SRCDIR)/%.c $(LLHTTP_INCDIR)/llhttp.h
	@mkdir -p $(@D)
	$(CC) $(LLHTTP_CPPFLAGS) $(LLHTTP_CFLAGS) -c $< -o $@

$(B)/asan/llhttp/%.o: $(LLHTTP_SRCDIR)/%.c $(LLHTTP_INCDIR)/llhttp.h
	@mkdir -p $(@D)
	$(CC) $(LLHTTP_CPPFLAGS) $(LLHTTP_CFLAGS) $(SANFLAGS) -c $< -o $@

$(B)/obj/libllhttp.a: $(patsubst $(LLHTTP_SRCDIR)/%.c,$(B)/obj/llhttp/%.o,$(LLHTTP_SRCS))
	$(AR) rcs $@ $^

$(B)/asan/libllhttp.a: $(patsubst $(LLHTTP_SRCDIR)/%.c,$(B)/asan/llhttp/%.o,$(LLHTTP_SRCS))
	$(AR) rcs $@ $^

endif
