// Conan test_package: one goroutine sends over a channel, main receives.
#include <goro.hpp>

#include <cstdio>

int main() {
  int got = 0;
  goro::run([&got] {
    goro::chan<int> c;
    goro::go([c] { c.send(42); });
    got = *c.recv();
  });
  std::printf("goro %d.%d.%d: received %d from a goroutine\n", GORO_VERSION_MAJOR, GORO_VERSION_MINOR, GORO_VERSION_PATCH,
              got);
  return got == 42 ? 0 : 1;
}
