// bench/compile_time's "hello" with the standard library: a thread hands a
// value over through a promise, as a goroutine sends on a channel.
#include <future>
#include <mutex>
#include <thread>

int main() {
  std::promise<int> p;
  std::future<int> f = p.get_future();
  std::thread t([&p] { p.set_value(42); });
  int got = f.get();
  t.join();
  return got == 42 ? 0 : 1;
}
