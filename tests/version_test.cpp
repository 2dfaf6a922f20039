// The version lives in include/goro/config.hpp (GORO_VERSION_*); CMake's
// project(VERSION) reads it from there. This checks that the two agree, in both
// the part headers and the generated goro.hpp (built with the CMake version
// passed as EXPECT_GORO_VERSION_*), and prints it.
#include "goro/config.hpp"
#include "goro.hpp"

#include <cstdio>

static_assert(GORO_VERSION_MAJOR == EXPECT_GORO_VERSION_MAJOR, "GORO_VERSION_MAJOR differs from CMake's project(VERSION)");
static_assert(GORO_VERSION_MINOR == EXPECT_GORO_VERSION_MINOR, "GORO_VERSION_MINOR differs from CMake's project(VERSION)");
static_assert(GORO_VERSION_PATCH == EXPECT_GORO_VERSION_PATCH, "GORO_VERSION_PATCH differs from CMake's project(VERSION)");

int main() {
  std::printf("goro %d.%d.%d\n", GORO_VERSION_MAJOR, GORO_VERSION_MINOR, GORO_VERSION_PATCH);
}
