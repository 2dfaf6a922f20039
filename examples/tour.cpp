// tour — goro in one screen: goroutines spread over Ms (OS threads) and Ps
// (processors), with the work-stealing that spread them counted.
//
// The main goroutine spawns a fork/join tree of goroutines (each node forks two
// children and joins them with a wait_group, as seed 003's fib does). Every
// leaf does a little CPU work in slices, yielding between them, and records
// which P and M it ran on. New goroutines land on the spawner's P; idle Ps
// steal half of a busy P's queue, which is how the tree spreads out.
#include "goro.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace {

constexpr int depth = 10;  // 2^10 = 1024 leaves
constexpr int slices = 8;  // each leaf yields this many times

std::mutex mu;                           // guards the maps (held for a few instructions)
std::map<int, long> runs_per_p, runs_per_m;
std::atomic<long> leaves{0};

std::atomic<unsigned long> sink{0};  // keeps the work from being optimized away
void burn() {
  unsigned long x = 0;
  for (int i = 0; i < 20000; ++i) x += static_cast<unsigned long>(i) * 2654435761u;
  sink.store(x, std::memory_order_relaxed);
}

void node(int d) {
  if (d == depth) {
    for (int s = 0; s < slices; ++s) {
      burn();
      {
        std::lock_guard<std::mutex> lk(mu);
        ++runs_per_p[goro::debug::current_p()];
        ++runs_per_m[goro::debug::current_m()];
      }
      goro::yield();
    }
    leaves.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  goro::wait_group wg;
  wg.go(node, d + 1);  // fork: queued on this P, runs next here or is stolen
  wg.go(node, d + 1);
  wg.wait();  // join: parks this goroutine; its M runs other work meanwhile
}

}  // namespace

int main() {
  unsigned procs = 4;
  goro::run(
      [&] {
        std::printf("goro tour: %u Ps, stack guards: %s\n", goro::procs(), goro::debug::stack_guard());
        node(0);
        goro::debug::sched_stats st = goro::debug::stats();
        std::printf("\n%ld leaf goroutines (%d-deep fork/join tree), %u Ms (OS threads) started\n\n", leaves.load(), depth,
                    st.threads);
        std::printf("  P   slices run   goroutines run   steals   goroutines stolen\n");
        long total_steals = 0;
        for (const auto& p : st.p) {
          auto it = runs_per_p.find(static_cast<int>(p.id));
          std::printf("  %-3u %11ld %16lu %8lu %19lu\n", p.id, it == runs_per_p.end() ? 0L : it->second,
                      static_cast<unsigned long>(p.scheduled),
                      static_cast<unsigned long>(p.steals), static_cast<unsigned long>(p.stolen));
          total_steals += static_cast<long>(p.steals);
        }
        std::printf("\n  M   slices run\n");
        for (const auto& [m, n] : runs_per_m) std::printf("  %-3d %11ld\n", m, n);
        std::printf("\nleaf slices ran on %zu Ps and %zu Ms; %ld steals moved the work there\n", runs_per_p.size(), runs_per_m.size(),
                    total_steals);
      },
      goro::config{.procs = procs});
  return leaves.load() == (1L << depth) ? 0 : 1;
}
