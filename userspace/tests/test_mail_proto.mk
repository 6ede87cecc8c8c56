# SPDX-License-Identifier: GPL-2.0 OR MIT
# test_mail_proto: the protocol half of the STARTTLS mail proxy
# (exlbd/l7/mail_proto.c, with ESP's RCPT TO check from exlbd/esp/path.c):
# pure functions, no sockets.
test_mail_proto_SRCS := exlbd/l7/mail_proto.c exlbd/esp/path.c
test_mail_proto_LIBS :=
$(B)/tests/test_mail_proto: exlbd/l7/mail_proto.h exlbd/esp/path.h
