# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_mail_proto: the protocol half of the STARTTLS mail proxy
# (exlbd/l7/mail_proto.c): pure functions, no sockets.
test_mail_proto_SRCS := exlbd/l7/mail_proto.c
test_mail_proto_LIBS :=
$(B)/tests/test_mail_proto: exlbd/l7/mail_proto.h
