// bench/compile_time's "hello" with Boost.Fiber: a fiber sends on a channel.
#include <boost/fiber/all.hpp>

int main() {
  boost::fibers::buffered_channel<int> c(2);
  boost::fibers::fiber f([&c] { c.push(42); });
  int got = 0;
  c.pop(got);
  f.join();
  return got == 42 ? 0 : 1;
}
