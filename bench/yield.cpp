// yield — goro's version of the `yield` workload defined in docs/benchmarks.md
// (section "yield"), the one definition shared with the Go and Boost.Fiber peers
// under bench/peers/.
//
// One P: two goroutines each call goro::yield() K times while the main goroutine
// waits for both. Timed from just before the first spawn until both are done.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/yield.cpp
#include "goro.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>

int main() try {
  constexpr long k = 5'000'000;
  constexpr long expected = 2 * k;
  std::atomic<long> yields{0};
  std::chrono::steady_clock::duration elapsed{};

  goro::run(
      [&] {
        goro::wait_group wg;
        auto body = [&] {
          long mine = 0;  // counted locally: the loop measures yield, not an atomic
          for (long i = 0; i < k; ++i) {
            goro::yield();
            ++mine;
          }
          yields.fetch_add(mine);
          wg.done();
        };
        wg.add(2);
        auto t0 = std::chrono::steady_clock::now();
        goro::go(body);
        goro::go(body);
        wg.wait();
        elapsed = std::chrono::steady_clock::now() - t0;
      },
      goro::config{.procs = 1});

  if (yields.load() != expected) {
    std::fprintf(stderr, "CHECK FAILED: yields done %ld, want %ld\n", yields.load(), expected);
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("yield ns_per_switch=%.1f ns switches=%ld\n", ns / expected, yields.load());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "yield: error: %s\n", e.what());
  return 1;
}
