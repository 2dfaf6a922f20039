// bench/compile_time's "hello": start a runtime, send on a channel.
#include "goro.hpp"

int main() {
  int got = 0;
  goro::run([&] {
    goro::chan<int> c(1);
    goro::go([c] { c.send(42); });
    got = c.recv().value_or(0);
  });
  return got == 42 ? 0 : 1;
}
