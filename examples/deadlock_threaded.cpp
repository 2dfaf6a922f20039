// deadlock_threaded — seed 002's lock-order deadlock, in the threaded runtime.
// Goroutine A locks v1 then v2; goroutine B locks v2 then v1. With a pause
// between the two locks both take their first lock, then each waits for the
// other's: a circular wait. Like Go's "fatal error: all goroutines are asleep -
// deadlock!", goro sees that every goroutine is parked on goro objects with
// nothing (no timer, no I/O, no blocking call) left to wake one, and goro::run
// throws goro::deadlock_error naming each goroutine, its wait and where it was
// created, instead of hanging.
//
// (Whether this interleaving happens depends on timing: the 10 ms sleeps make
// it all but certain here. The deterministic scheduler finds it without them.)
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>

using namespace std::chrono_literals;

// At namespace scope, not in main's frame: when run gives up on a deadlock it
// unwinds every goroutine (goroutine_exit), main included and in no particular
// order, and the lock_guards of the other two still unlock v1 and v2 then.
goro::mutex v1, v2;
goro::wait_group wg;

int main() {
  try {
    goro::run([] {
      wg.go([] {
        std::lock_guard a(v1);
        goro::sleep_for(10ms);  // "gets preempted" holding v1
        std::lock_guard b(v2);
      });
      wg.go([] {
        std::lock_guard b(v2);
        goro::sleep_for(10ms);
        std::lock_guard a(v1);
      });
      wg.wait();
      std::printf("no deadlock this time\n");
    });
  } catch (const goro::deadlock_error& e) {
    std::printf("goro::run threw goro::deadlock_error:\n%s\n", e.what());
    return 0;
  }
  return 1;
}
