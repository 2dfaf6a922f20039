// std_mutex — the std::thread reference for the `mutex` workload defined in
// docs/benchmarks.md (section "mutex"): the same 30M lock/unlock pairs on OS threads.
//
// 2 std::threads each do 15,000,000 times lock(); counter++; unlock() on one
// std::mutex around a plain counter; main joins both. Timed from just before the
// first thread is created until both are joined.
//   g++ -O2 -std=c++20 -pthread std_mutex.cpp
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

int main() try {
  constexpr long g = 2, k = 15'000'000;
  constexpr long expected = g * k;
  std::mutex mu;
  long counter = 0;  // plain: the mutex is what protects it
  std::vector<std::thread> threads;

  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < g; ++i) {
    threads.emplace_back([&] {
      for (long j = 0; j < k; ++j) {
        std::lock_guard<std::mutex> lk(mu);
        ++counter;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;

  if (counter != expected) {
    std::fprintf(stderr, "CHECK FAILED: counter %ld, want %ld\n", counter, expected);
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("mutex ns_per_pair=%.1f ns counter=%ld\n", ns / expected, counter);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mutex: error: %s\n", e.what());
  return 1;
}
