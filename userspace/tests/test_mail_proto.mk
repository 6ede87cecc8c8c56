# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_mail_proto: the protocol half of the STARTTLS mail proxy
# (exlbd/mail_proto.c): pure functions, no sockets.
test_mail_proto_SRCS := exlbd/mail_proto.c
test_mail_proto_LIBS :=
$(B)/tests/test_mail_proto: CPPFLAGS += -I$(TOP)/userspace/exlbd
$(B)/tests/test_mail_proto: exlbd/mail_proto.h
