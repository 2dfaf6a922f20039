// blocking — goro's version of the `blocking` workload defined in docs/benchmarks.md
// (section "blocking"), the one definition shared with the Go peer under
// bench/peers/go/blocking.
//
// procs 1. Two goroutines ping-pong 1,000,000 round trips over two unbuffered
// channels (A, the main goroutine, starts with x = 0 and repeats send(a, x);
// x = receive(b); B receives v on a and sends v + 1 on b): first alone (T0),
// then again while a third goroutine loops on a 100 ms nanosleep system call
// made inside goro::blocking<> (handoff_lazy), started 1 ms before the second
// run (T1). kept_pct = 100 * T0 / T1: how much of its throughput the
// ping-pong keeps while the only P's thread keeps blocking in the kernel.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/blocking.cpp
#include "goro.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>

namespace {

constexpr long n = 1'000'000;

// pingpong does n round trips with a fresh partner goroutine; returns the
// elapsed time and sets x to the final value (the check wants x == n).
std::chrono::steady_clock::duration pingpong(long& x) {
  goro::chan<long> a, b;
  goro::go([a, b] {
    while (std::optional<long> v = a.recv()) b.send(*v + 1);
  });
  x = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    a.send(x);
    x = b.recv().value();
  }
  auto el = std::chrono::steady_clock::now() - t0;
  a.close();
  return el;
}

}  // namespace

int main() try {
  long x0 = 0, x1 = 0;
  std::chrono::steady_clock::duration t0{}, t1{};
  std::atomic<long> calls{0};
  goro::run(
      [&] {
        t0 = pingpong(x0);
        std::atomic<bool> stop{false};
        goro::wait_group blocker;
        blocker.go([&] {
          while (!stop.load(std::memory_order_relaxed)) {
            timespec ts{0, 100'000'000};
            {
              goro::blocking<> guard;
              nanosleep(&ts, nullptr);
            }
            calls.fetch_add(1, std::memory_order_relaxed);
          }
        });
        goro::sleep_for(std::chrono::milliseconds(1));
        t1 = pingpong(x1);
        stop = true;
        blocker.wait();
      },
      goro::config{.procs = 1});
  if (x0 != n || x1 != n || calls.load() < 1) {
    std::fprintf(stderr, "CHECK FAILED: x %ld and %ld after %ld round trips each, blocker calls %ld\n", x0, x1, n, calls.load());
    return 1;
  }
  double ns0 = std::chrono::duration<double, std::nano>(t0).count();
  double ns1 = std::chrono::duration<double, std::nano>(t1).count();
  std::printf("blocking kept_pct=%.1f %% rt_ns_alone=%.1f ns rt_ns_with_blocker=%.1f ns blocker_calls=%ld\n", 100.0 * ns0 / ns1,
              ns0 / n, ns1 / n, calls.load());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "blocking: error: %s\n", e.what());
  return 1;
}
