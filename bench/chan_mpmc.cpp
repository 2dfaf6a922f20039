// chan_mpmc — goro's version of the `chan_mpmc` workload defined in
// docs/benchmarks.md (section "chan_mpmc"), the one definition shared with the Go and
// Boost.Fiber peers under bench/peers/.
//
// One channel of capacity 1024 carrying 64-bit integers; P = 4 producers, then
// C = 4 consumers. Producer p sends p, p+4, p+8, ... below N; each consumer sums
// what it receives into its own slot (slots 128 bytes apart). The main goroutine
// waits for the producers, closes the channel, waits for the consumers. Timed from
// just before the first spawn until the last consumer is done.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/chan_mpmc.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

namespace {

constexpr std::int64_t n = 10'000'000;
constexpr int producers = 4, consumers = 4;

struct alignas(128) slot {  // one consumer's sum, 128 bytes from the next
  std::int64_t sum = 0;
};

}  // namespace

int main() try {
  slot sums[consumers];
  std::chrono::steady_clock::duration elapsed{};

  goro::run(
      [&] {
        goro::chan<std::int64_t> ch(1024);
        goro::wait_group prod, cons;
        auto t0 = std::chrono::steady_clock::now();
        for (int p = 0; p < producers; ++p) {
          prod.go([ch, p] {
            for (std::int64_t v = p; v < n; v += producers) ch.send(v);
          });
        }
        for (int c = 0; c < consumers; ++c) {
          cons.go([ch, s = &sums[c]] {
            std::int64_t sum = 0;
            for (std::int64_t v : ch) sum += v;
            s->sum = sum;
          });
        }
        prod.wait();
        ch.close();
        cons.wait();
        elapsed = std::chrono::steady_clock::now() - t0;
      },
      goro::config{.procs = 2});

  std::int64_t sum = 0;
  for (const slot& s : sums) sum += s.sum;
  constexpr std::int64_t want = n * (n - 1) / 2;
  if (sum != want) {
    std::fprintf(stderr, "CHECK FAILED: sum %lld, want %lld\n", (long long)sum, (long long)want);
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("chan_mpmc ns_per_item=%.1f ns sum=%lld\n", ns / n, (long long)sum);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "chan_mpmc: error: %s\n", e.what());
  return 1;
}
