// blocking — a goroutine that blocks its thread in the kernel, and how
// goro::blocking<> keeps the other goroutines running (seed 002: "context
// switching due to a synchronous system call").
//
// With one P, a goroutine that calls ::usleep() holds the P while its thread
// sleeps: no other goroutine can run, so a ticker goroutine misses its ticks.
// Inside goro::blocking<handoff_now> (or goro::block(f)) the P is handed to
// another thread for the duration of the call, as Go does around a system call,
// and the ticker keeps ticking; when the call returns, the goroutine takes a P
// back. (With the default handoff_lazy, sysmon hands the P off once the call
// has lasted ~20 us.)
#include "goro.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

// ticks_during runs call() in a goroutine on a 1-P runtime while another
// goroutine counts 5 ms ticks, and returns the ticks counted during the call.
template <class F>
long ticks_during(F call) {
  long ticks = 0;
  goro::run(
      [&] {
        std::atomic<bool> in_call{false}, over{false};
        std::atomic<long> n{0};
        goro::wait_group wg;
        wg.go([&] {
          goro::ticker t(5ms);
          while (!over.load()) {
            goro::select(goro::recv_case(t.c(), [&](auto) {
              if (in_call.load()) n.fetch_add(1);
            }));
          }
          t.stop();
        });
        goro::sleep_for(20ms);  // let the ticker start
        wg.go([&] {
          in_call.store(true);
          call();
          in_call.store(false);
          over.store(true);
        });
        wg.wait();
        ticks = n.load();
      },
      goro::config{.procs = 1});
  return ticks;
}

}  // namespace

int main() {
  long plain = ticks_during([] { ::usleep(200'000); });
  std::printf("usleep(200 ms) without a guard:        the ticker ticked %ld times during it (the P was blocked)\n", plain);

  long guarded = ticks_during([] {
    goro::blocking<goro::handoff_now> guard;  // this thread may block; its P goes to another thread
    ::usleep(200'000);
  });
  std::printf("usleep(200 ms) in blocking<handoff_now>: the ticker ticked %ld times during it\n", guarded);

  // goro::block(f) runs f inside blocking<> (handoff_lazy) and returns its result.
  long lazy = ticks_during([] {
    int rc = goro::block([] { return ::usleep(200'000); });
    if (rc != 0) std::printf("usleep failed\n");
  });
  std::printf("usleep(200 ms) in goro::block:          the ticker ticked %ld times during it\n", lazy);
  return guarded >= 10 && lazy >= 10 ? 0 : 1;
}
