// One TU of a program whose two TUs disagree on GORO_DETERMINISTIC (see
// mode_b.cpp): goro must abort at start-up naming both modes
// (docs/reference.md, "Configuration macros and environment": one mode per
// executable), before main runs.
#include "goro.hpp"

#include <cstdio>

int main() {
  std::puts("mode_mismatch: main ran, but the mixed modes should have been caught before");
  return 0;
}
