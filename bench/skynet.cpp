// skynet — goro's version of the `skynet` workload defined in docs/benchmarks.md
// (section "skynet"), the one definition shared with the Go and Boost.Fiber peers
// under bench/peers/.
//
// skynet(c, num, size, div): a leaf (size 1) sends num on c; an inner node creates
// an unbuffered channel, spawns its 10 children on it, receives their 10 sums and
// sends the total on c. 1,111,111 goroutines and 111,112 channels. Timed from just
// before creating the root channel until the root sum is received.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/skynet.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

namespace {

void skynet(goro::chan<std::int64_t> c, std::int64_t num, std::int64_t size, std::int64_t div) {
  if (size == 1) {
    c.send(num);
    return;
  }
  goro::chan<std::int64_t> rc;
  for (std::int64_t i = 0; i < div; ++i) goro::go(skynet, rc, num + i * (size / div), size / div, div);
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < div; ++i) sum += rc.recv().value();
  c.send(sum);
}

}  // namespace

int main() try {
  std::int64_t sum = 0;
  std::chrono::steady_clock::duration elapsed{};

  goro::run(
      [&] {
        auto t0 = std::chrono::steady_clock::now();
        goro::chan<std::int64_t> c;
        goro::go(skynet, c, std::int64_t{0}, std::int64_t{1'000'000}, std::int64_t{10});
        sum = c.recv().value();
        elapsed = std::chrono::steady_clock::now() - t0;
      },
      goro::config{.procs = 2});

  constexpr std::int64_t want = 499'999'500'000;
  if (sum != want) {
    std::fprintf(stderr, "CHECK FAILED: sum %lld, want %lld\n", (long long)sum, (long long)want);
    return 1;
  }
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  std::printf("skynet total_ms=%.2f ms sum=%lld\n", ms, (long long)sum);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "skynet: error: %s\n", e.what());
  return 1;
}
