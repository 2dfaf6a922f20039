// The consumer program: what a user's first goro program looks like. Built
// four ways by tests/consumers/run (plain -I, add_subdirectory, FetchContent,
// find_package) and by test_package/. Prints one line and exits 0 when the
// goroutines delivered every result.
#include "goro.hpp"

#include <cstdio>

// When the build knows which version it asked for (the CMake ways pass the
// package's version), the header must carry the same one.
#if defined(EXPECT_GORO_VERSION_MAJOR)
static_assert(GORO_VERSION_MAJOR == EXPECT_GORO_VERSION_MAJOR && GORO_VERSION_MINOR == EXPECT_GORO_VERSION_MINOR &&
                  GORO_VERSION_PATCH == EXPECT_GORO_VERSION_PATCH,
              "goro.hpp's GORO_VERSION_* differ from the CMake package version");
#endif

#ifndef CONSUMER_WAY
#define CONSUMER_WAY "plain"
#endif

int main() {
  long sum = 0;
  goro::run([&sum] {
    goro::chan<long> squares;
    for (long i = 1; i <= 100; ++i) goro::go([squares, i] { squares.send(i * i); });
    for (int i = 0; i < 100; ++i) sum += *squares.recv();
  });
  std::printf("consumer (%s): goro %d.%d.%d, 100 goroutines, sum of squares %ld\n", CONSUMER_WAY, GORO_VERSION_MAJOR,
              GORO_VERSION_MINOR, GORO_VERSION_PATCH, sum);
  return sum == 338350 ? 0 : 1;
}
