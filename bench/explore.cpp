// explore — goro's version of the `explore` workload defined in docs/benchmarks.md
// (section "explore"; deterministic mode only, no peer: no other runtime
// replays interleavings).
//
// The body: a channel of capacity 1 and a wait group; 2 producers each send 25
// ints, 2 consumers each receive 25 and add them to a local sum; the body waits
// on the wait group and checks the total (4 goroutines, 100 channel operations
// per run). sim::explore runs it for 20,000 seeds with strategy::random, then
// 20,000 with strategy::pct (pct_depth 3), then 20,000 random seeds again with
// jobs = 2 (two forked worker processes), then 20,000 schedules of
// strategy::dfs (max_preemptions 2; the space is larger, so not exhausted);
// every run must pass.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -DGORO_DETERMINISTIC=1 -I. bench/explore.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace {

constexpr std::size_t seeds = 20'000;
constexpr long per_goroutine = 25;

void body() {
  goro::chan<long> c(1);
  goro::wait_group wg;
  long sums[2] = {0, 0};
  for (long p = 0; p < 2; ++p)
    wg.go([c, p] {
      for (long i = 1; i <= per_goroutine; ++i) c.send(p * 1000 + i);
    });
  for (long k = 0; k < 2; ++k)
    wg.go([c, &sums, k] {
      for (long i = 0; i < per_goroutine; ++i) sums[k] += *c.recv();
    });
  wg.wait();
  long want = 2 * (per_goroutine * (per_goroutine + 1) / 2) + 1000 * per_goroutine;
  if (sums[0] + sums[1] != want) throw std::logic_error("explore: wrong total");
}

double seeds_per_s(goro::sim::strategy how, unsigned jobs = 1) {
  auto t0 = std::chrono::steady_clock::now();
  goro::sim::explore_result r =
      goro::sim::explore(body, {.first_seed = 1, .runs = seeds, .how = how, .pct_depth = 3, .max_preemptions = 2, .jobs = jobs});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r.ok || r.runs_done != seeds) {
    std::fprintf(stderr, "explore: seed %llu failed: %s\n", static_cast<unsigned long long>(r.failing_seed), r.message.c_str());
    std::exit(1);
  }
  return static_cast<double>(seeds) / secs;
}

}  // namespace

int main() {
  double random = seeds_per_s(goro::sim::strategy::random);
  double pct = seeds_per_s(goro::sim::strategy::pct);
  double jobs2 = seeds_per_s(goro::sim::strategy::random, 2);
  double dfs = seeds_per_s(goro::sim::strategy::dfs);
  std::printf("explore seeds_per_s=%.0f seeds/s seeds_per_s_pct=%.0f seeds/s seeds_per_s_jobs2=%.0f seeds/s "
              "schedules_per_s_dfs=%.0f schedules/s seeds=%zu\n",
              random, pct, jobs2, dfs, seeds);
}
