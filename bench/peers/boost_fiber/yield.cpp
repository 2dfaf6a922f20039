// yield — the Boost.Fiber peer of goro's bench/yield.cpp; the workload is
// defined in docs/benchmarks.md (section "yield", and "Boost.Fiber specifics").
//
// One thread with Boost's default round_robin scheduler: two fibers (launch::post,
// 32 KiB fixedsize_stack) each call boost::this_fiber::yield() K times while the
// main fiber joins both. Timed from just before the first spawn until both are done.
//   g++ -O2 -std=c++20 -pthread yield.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>

namespace bf = boost::fibers;

int main() try {
  constexpr long k = 5'000'000;
  constexpr long expected = 2 * k;
  constexpr std::size_t stack_bytes = 32 * 1024;
  std::atomic<long> yields{0};

  auto body = [&yields] {
    long mine = 0;  // counted locally: the loop measures yield, not an atomic
    for (long i = 0; i < k; ++i) {
      boost::this_fiber::yield();
      ++mine;
    }
    yields.fetch_add(mine);
  };

  auto t0 = std::chrono::steady_clock::now();
  bf::fiber a(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), body);
  bf::fiber b(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), body);
  a.join();
  b.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;

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
