// context — goro's version of the `context` workload defined in docs/benchmarks.md
// (section "context"), the one definition shared with the Go peer under
// bench/peers/go/context.
//
// procs 2, one goro::run, two phases:
//  1. derive: a long-lived parent P = with_cancel(background). N = 1,000,000
//     times: derive a child of P with with_cancel, call its cancel function,
//     check its err() is operation_canceled, drop it. Timed: the whole loop;
//     ns_per_derive_cancel = elapsed / N.
//  2. fan-out: a root R = with_cancel(background). G = 10,000 goroutines; each
//     derives its own child of R with with_cancel, counts itself on the
//     `parked` wait group and waits in a one-case select on its child's
//     done(); once woken it checks err() is operation_canceled, calls its own
//     cancel, drops its child and counts itself on the `finished` wait group.
//     The main goroutine waits for `parked`, then (timed) cancels R and waits
//     for `finished`; cancel_fanout_us = that time in microseconds.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/context.cpp
#include "goro.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <system_error>
#include <variant>

namespace {

constexpr long n = 1'000'000;  // phase 1: derive-and-cancel iterations
constexpr long gs = 10'000;    // phase 2: goroutines

}  // namespace

int main() try {
  long bad_derive = 0;
  bool parent_live = false;
  std::atomic<long> woke_canceled{0};
  std::chrono::steady_clock::duration derive_elapsed{}, fanout_elapsed{};

  goro::run(
      [&] {
        // Phase 1: derive and cancel from one long-lived parent.
        goro::cancel_handle parent = goro::with_cancel(goro::context{});
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < n; ++i) {
          auto [c, cancel] = goro::with_cancel(parent.ctx);
          cancel();
          if (c.err() != std::errc::operation_canceled) ++bad_derive;
        }
        derive_elapsed = std::chrono::steady_clock::now() - t0;
        parent_live = !parent.ctx.err();
        parent.cancel();

        // Phase 2: G goroutines wait on their own children of one root.
        goro::cancel_handle root = goro::with_cancel(goro::context{});
        goro::wait_group parked, finished;
        parked.add(gs);
        finished.add(gs);
        for (long i = 0; i < gs; ++i) {
          goro::go([&] {
            {
              goro::cancel_handle h = goro::with_cancel(root.ctx);
              parked.done();
              goro::select(goro::recv_case(h.ctx.done(), [](std::optional<std::monostate>) {}));
              if (h.ctx.err() == std::errc::operation_canceled) woke_canceled.fetch_add(1, std::memory_order_relaxed);
              h.cancel();
            }  // the child is dropped before the goroutine counts itself finished
            finished.done();
          });
        }
        parked.wait();
        auto t1 = std::chrono::steady_clock::now();
        root.cancel();
        finished.wait();
        fanout_elapsed = std::chrono::steady_clock::now() - t1;
      },
      goro::config{.procs = 2});

  if (bad_derive != 0 || !parent_live || woke_canceled.load() != gs) {
    std::fprintf(stderr, "CHECK FAILED: %ld derived children not canceled, parent live %d, %ld of %ld goroutines woke canceled\n",
                 bad_derive, parent_live ? 1 : 0, woke_canceled.load(), gs);
    return 1;
  }
  double derive_ns = std::chrono::duration<double, std::nano>(derive_elapsed).count();
  double fanout_us = std::chrono::duration<double, std::micro>(fanout_elapsed).count();
  std::printf("context ns_per_derive_cancel=%.1f ns cancel_fanout_us=%.1f us n=%ld gs=%ld\n", derive_ns / n, fanout_us, n,
              gs);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "context: error: %s\n", e.what());
  return 1;
}
