// spawn — goro's version of the `spawn` workload defined in docs/benchmarks.md
// (section "spawn"), the one definition shared with the Go and Boost.Fiber peers
// under bench/peers/.
//
// The main goroutine sets a wait group to N, spawns N goroutines in a tight loop
// (each body: done()), then waits. Timed from just before the first spawn until
// the wait returns. Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/spawn.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <exception>

int main() try {
  constexpr long n = 500'000;
  std::chrono::steady_clock::duration elapsed{};

  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(n);
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < n; ++i) goro::go([&wg] { wg.done(); });
        wg.wait();  // check: returning proves all n ran
        elapsed = std::chrono::steady_clock::now() - t0;
      },
      goro::config{.procs = 2});

  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("spawn ns_per_spawn=%.1f ns n=%ld\n", ns / n, n);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "spawn: error: %s\n", e.what());
  return 1;
}
