// timers — goro's version of the `timers` workload defined in docs/benchmarks.md
// (section "timers"), the one definition shared with the Go peer under
// bench/peers/go/timers.
//
// procs 2. N = 100,000 goroutines; goroutine i (0-based, in spawn order)
// sleeps d_i = 1 + ((i * 2654435761) mod 2^32) mod 50 ms with goro::sleep_for.
// Each reads the clock before and after its sleep and counts itself early if
// it slept less than d_i, then calls done() on a wait group of N. The main
// goroutine computes d_i while spawning all N, then waits. Timed: wall clock
// and process CPU time (getrusage(RUSAGE_SELF), user + system) from just
// before the first spawn until the wait returns.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/timers.cpp
#include "goro.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

#include <sys/resource.h>

namespace {

constexpr long n = 100'000;

double cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

}  // namespace

int main() try {
  std::atomic<long> early{0};
  double wall = 0, cpu = 0;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(n);
        double cpu0 = cpu_ms();
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < n; ++i) {
          auto d = std::chrono::milliseconds(1 + (static_cast<std::uint64_t>(i) * 2654435761u % (1ull << 32)) % 50);
          goro::go([d, &wg, &early] {
            auto s = std::chrono::steady_clock::now();
            goro::sleep_for(d);
            if (std::chrono::steady_clock::now() - s < d) early.fetch_add(1, std::memory_order_relaxed);
            wg.done();
          });
        }
        wg.wait();
        wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        cpu = cpu_ms() - cpu0;
      },
      goro::config{.procs = 2});
  if (early.load() != 0 || wall < 50) {
    std::fprintf(stderr, "CHECK FAILED: early=%ld total_ms=%.2f\n", early.load(), wall);
    return 1;
  }
  std::printf("timers total_ms=%.2f ms cpu_ms=%.2f ms n=%ld early=%ld\n", wall, cpu, n, early.load());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "timers: error: %s\n", e.what());
  return 1;
}
