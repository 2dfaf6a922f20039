// pingpong — goro's version of the `pingpong` workload defined in docs/benchmarks.md
// (section "pingpong"), the one definition shared with the Go and Boost.Fiber
// peers under bench/peers/.
//
// Two unbuffered channels, ping and pong. An echo goroutine receives v on ping
// and sends v + 1 on pong until ping is closed, then closes pong. The main
// goroutine does up to N round trips (send x on ping, x = receive on pong),
// stopping early after 2 s (checked every 1024 round trips), then closes ping and
// waits for pong to be closed. Phase 1 runs with procs 2 (ns_per_rt), phase 2 in
// a second goro::run with procs 1 (ns_per_rt_p1). Timed from just after spawning
// the echo goroutine until the last round trip's receive returns.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/pingpong.cpp
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>

namespace {

constexpr long n = 1'000'000;
// Safety cap per phase (docs/benchmarks.md, "pingpong").
constexpr auto cap = std::chrono::seconds(2);

struct phase_result {
  long rts = 0;  // round trips done
  long x = 0;    // the value after the last round trip; the check wants x == rts
  std::chrono::steady_clock::duration elapsed{};
};

// phase runs one phase of the workload in its own runtime with `procs` Ps.
phase_result phase(unsigned procs) {
  phase_result r;
  goro::run(
      [&r] {
        goro::chan<long> ping, pong;
        goro::go([ping, pong] {
          while (std::optional<long> v = ping.recv()) pong.send(*v + 1);
          pong.close();
        });
        auto t0 = std::chrono::steady_clock::now();
        long x = 0, rts = 0;
        while (rts < n) {
          ping.send(x);
          x = pong.recv().value();  // pong is closed only after ping is
          ++rts;
          if (rts % 1024 == 0 && std::chrono::steady_clock::now() - t0 >= cap) break;
        }
        r.elapsed = std::chrono::steady_clock::now() - t0;
        r.rts = rts;
        r.x = x;
        ping.close();
        while (pong.recv()) {
        }  // returns nullopt once the echo goroutine has closed pong
      },
      goro::config{.procs = procs});
  return r;
}

}  // namespace

int main() try {
  phase_result p2 = phase(2);
  phase_result p1 = phase(1);

  if (p2.x != p2.rts || p1.x != p1.rts) {
    std::fprintf(stderr, "CHECK FAILED: x %ld after %ld round trips (procs 2), x %ld after %ld (procs 1)\n",
                 p2.x, p2.rts, p1.x, p1.rts);
    return 1;
  }
  double ns2 = std::chrono::duration<double, std::nano>(p2.elapsed).count();
  double ns1 = std::chrono::duration<double, std::nano>(p1.elapsed).count();
  std::printf("pingpong ns_per_rt=%.1f ns ns_per_rt_p1=%.1f ns rts=%ld rts_p1=%ld\n", ns2 / p2.rts,
              ns1 / p1.rts, p2.rts, p1.rts);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pingpong: error: %s\n", e.what());
  return 1;
}
