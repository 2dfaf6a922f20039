// Two translation units including the generated goro.hpp (and one also a part)
// must link into one program: every definition in the header is inline.
#include "goro.hpp"
#include "include/goro/park.hpp"  // a part after the amalgamation: its guard makes it a no-op

#include <cstdio>

int spawn_in_tu2();

int main() {
  int a = 0;
  goro::run([&] {
    goro::wait_group wg;
    wg.go([&] { a = 1; });
    wg.wait();
  });
  int b = spawn_in_tu2();
  if (a != 1 || b != 2) {
    std::fprintf(stderr, "amalgamation: a=%d b=%d\n", a, b);
    return 1;
  }
  return 0;
}
