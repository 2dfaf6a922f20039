// fib — goro's version of the `fib` workload defined in docs/benchmarks.md (section
// "fib"), the one definition shared with the Go and Boost.Fiber peers under
// bench/peers/.
//
// Fork-join Fibonacci: fib(n) for n >= 2 creates a channel of capacity 1, spawns a
// goroutine computing fib(n-1) into it, computes fib(n-2) inline, then receives.
// The main goroutine calls fib(28) directly (514,228 goroutines and channels).
// Timed: the call fib(28).
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/fib.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

namespace {

std::int64_t fib(int n) {
  if (n < 2) return n;
  goro::chan<std::int64_t> c(1);
  goro::go([c, n] { c.send(fib(n - 1)); });
  std::int64_t b = fib(n - 2);
  std::int64_t a = c.recv().value();
  return a + b;
}

}  // namespace

int main() try {
  constexpr int n = 28;
  std::int64_t result = 0;
  std::chrono::steady_clock::duration elapsed{};

  goro::run(
      [&] {
        auto t0 = std::chrono::steady_clock::now();
        result = fib(n);
        elapsed = std::chrono::steady_clock::now() - t0;
      },
      goro::config{.procs = 2});

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
