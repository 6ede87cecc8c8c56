# test_config: exlbd's configuration model (see tests/test_config.c).
test_config_SRCS := exlbd/config.c exlbd/params.c
test_config_LIBS := -ljansson
