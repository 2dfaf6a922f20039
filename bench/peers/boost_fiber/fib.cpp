// fib — the Boost.Fiber peer of goro's bench/fib.cpp; the workload is defined in
// docs/benchmarks.md (section "fib", and "Boost.Fiber specifics").
//
// Two threads under algo::work_stealing (this thread plus one helper). Fork-join
// Fibonacci: fib(n) for n >= 2 makes a buffered_channel(2), which holds one value
// (Go's capacity 1), spawns a detached fiber (launch::post, 32 KiB
// fixedsize_stack) computing fib(n-1) into it, computes fib(n-2) inline, then
// pops. The channel is held by shared_ptr, as Go's is by the garbage collector, so
// that it outlives a child still returning from push(). The main fiber calls
// fib(28) directly (514,228 fibers and channels). Timed: the call fib(28).
//   g++ -O2 -std=c++20 -pthread fib.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace bf = boost::fibers;

namespace {

constexpr unsigned threads = 2;
constexpr std::size_t stack_bytes = 32 * 1024;

// helper_thread is the second work_stealing thread. It is started before the
// main thread installs its own work_stealing scheduler, because Boost 1.74's
// work_stealing constructor waits until all `threads` threads have registered.
// Its main fiber sleeps on a fiber condition variable, so the thread runs stolen
// fibers until stop() is called.
class helper_thread {
 public:
  helper_thread()
      : thread_([this] {
          bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);
          std::unique_lock<bf::mutex> lk(mu_);
          cv_.wait(lk, [this] { return stop_; });
        }) {}

  void stop() {
    {
      std::lock_guard<bf::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  bf::mutex mu_;
  bf::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

std::int64_t fib(int n) {
  if (n < 2) return n;
  // Holds 1: Go's capacity 1 (docs/benchmarks.md, "Boost.Fiber specifics").
  auto c = std::make_shared<bf::buffered_channel<std::int64_t>>(2);
  bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), [c, n] {
    c->push(fib(n - 1));
  }).detach();
  std::int64_t b = fib(n - 2);
  std::int64_t a;
  if (c->pop(a) != bf::channel_op_status::success) throw std::runtime_error("channel closed");
  return a + b;
}

}  // namespace

int main() try {
  constexpr int n = 28;

  helper_thread helper;
  bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);

  auto t0 = std::chrono::steady_clock::now();
  std::int64_t result = fib(n);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  helper.stop();

  if (result != 317811) {
    std::fprintf(stderr, "CHECK FAILED: fib(%d) = %lld, want 317811\n", n, (long long)result);
    return 1;
  }
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  std::printf("fib total_ms=%.2f ms n=%d result=%lld\n", ms, n, (long long)result);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fib: error: %s\n", e.what());
  return 1;
}
