// thread_spawn — the std::thread reference for the `spawn` workload defined in
// docs/benchmarks.md (section "spawn"): what the same loop costs with OS threads.
//
// N = 10,000 std::threads are created in a loop (each body: one atomic
// decrement of a shared counter), then all are joined. N is smaller than the
// 500,000 of the goroutine programs because an OS thread costs ~35–80 µs. Timed
// from just before the first creation until the last join returns.
//   g++ -O2 -std=c++20 -pthread thread_spawn.cpp
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

int main() try {
  constexpr long n = 10'000;
  std::atomic<long> left{n};
  std::vector<std::thread> threads;
  threads.reserve(n);

  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) threads.emplace_back([&left] { left.fetch_sub(1); });
  for (std::thread& t : threads) t.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;

  if (left.load() != 0) {
    std::fprintf(stderr, "CHECK FAILED: counter %ld, want 0\n", left.load());
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("spawn ns_per_spawn=%.1f ns n=%ld\n", ns / n, n);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "spawn: error: %s\n", e.what());
  return 1;
}
