// mutex — goro's version of the `mutex` workload defined in docs/benchmarks.md
// (section "mutex"), the one definition shared with the Go, Boost.Fiber and
// std::thread peers under bench/peers/.
//
// G = 100 goroutines each do K = 300,000 times lock(); counter++; unlock() on one
// goro::mutex around a plain counter; the main goroutine waits for them. Timed
// from just before the first spawn until all G have finished.
// With the argument `uncontended`: G = 1, K = 30,000,000 (the lock's fast path
// alone), reported as ns_per_pair_uncontended.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/mutex.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>

int main(int argc, char** argv) try {
  const bool uncontended = argc > 1 && std::strcmp(argv[1], "uncontended") == 0;
  const long g = uncontended ? 1 : 100, k = uncontended ? 30'000'000 : 300'000;
  const long expected = g * k;
  long counter = 0;  // plain: the mutex is what protects it
  std::chrono::steady_clock::duration elapsed{};

  goro::run(
      [&] {
        goro::mutex mu;
        goro::wait_group wg;
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < g; ++i) {
          wg.go([&] {
            for (long j = 0; j < k; ++j) {
              std::lock_guard<goro::mutex> lk(mu);
              ++counter;
            }
          });
        }
        wg.wait();
        elapsed = std::chrono::steady_clock::now() - t0;
      },
      goro::config{.procs = 2});

  if (counter != expected) {
    std::fprintf(stderr, "CHECK FAILED: counter %ld, want %ld\n", counter, expected);
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("mutex %s=%.1f ns counter=%ld\n", uncontended ? "ns_per_pair_uncontended" : "ns_per_pair", ns / expected,
              counter);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mutex: error: %s\n", e.what());
  return 1;
}
