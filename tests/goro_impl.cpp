// goro's compiled part for the Catch2 tests (docs/reference.md, "Compile
// time"): the test TUs define GORO_SPLIT and link this object, built once per
// configuration and mode (tests/CMakeLists.txt), instead of each compiling the
// scheduler, the dumps and the trace writer again.
#define GORO_IMPLEMENTATION
#include "goro.hpp"
