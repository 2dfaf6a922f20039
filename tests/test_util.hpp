// Helpers shared by goro's Catch2 tests.
#pragma once

#include <cstdlib>
#include <string>

namespace goro_test {

// scale(n): n scaled by $GORO_TEST_SCALE (default 1): the sanitizer jobs run
// the big tests smaller. Never below 1.
inline long scale(long n) {
  const char* s = std::getenv("GORO_TEST_SCALE");
  double f = s != nullptr ? std::atof(s) : 1.0;
  if (f <= 0) f = 1.0;
  long r = static_cast<long>(static_cast<double>(n) * f);
  return r < 1 ? 1 : r;
}

// full_scale: true in the Release job (big tests such as 1M goroutines run there only).
inline bool full_scale() {
  const char* s = std::getenv("GORO_TEST_SCALE");
  return s == nullptr || std::atof(s) >= 1.0;
}

}  // namespace goro_test
