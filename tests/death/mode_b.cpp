// Built with -DGORO_DETERMINISTIC=1 (tests/CMakeLists.txt); see mode_a.cpp.
#include "goro.hpp"

int mode_b_marker() { return 1; }
