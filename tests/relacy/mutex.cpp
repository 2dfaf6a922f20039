// tests/relacy/mutex.cpp — Relacy models of goro's mutex: the production
// goro::detail::mutex_impl<P> (include/goro/sync.hpp, Go's sync.Mutex) with
// P = goro_rl::rl_sync (rl_sync.hpp: Relacy atomics, a model of sema.hpp's
// semaphore with handoff, a modelled clock and nondeterministic can_spin).
//
// What is checked: threads lock the mutex (lock(), or try_lock() falling back
// to lock()) and increment a plain counter (an rl::var, so a critical section
// that is not ordered after the previous one is a Relacy DATA RACE). Inside
// the critical section an atomic RMW counter `inside` checks mutual exclusion
// itself (exactly one owner, whatever the memory orders). A lost wake-up leaves
// a thread parked forever: Relacy reports a DEADLOCK. after() checks the
// counter and that the mutex is unlocked (try_lock succeeds).
//
// The paths: lock_slow with spinning (the woken bit), parking, waking in
// normal mode (woken waiter competes with barging lockers: lost races requeue
// lifo), starvation mode (a waiter that waited "over 1 ms", by the modelled
// clock, sets the starving bit; unlock then hands the mutex off through
// semrelease(handoff) and the waiter fixes up the state) and leaving it.
// The counters printed after each run show how often each was reached.
//   a: 2 threads x 3 lock/unlock (thread 1 tries try_lock first)  random 300k + context bound 3
//   b: 3 threads x 2 lock/unlock (thread 2 tries try_lock first)  random 600k + context bound 1
//   c: 2 threads x 1 lock/unlock                                   sched_full (exhaustive)
//
// Broken variant (-DGORO_RELACY_BROKEN=1, or -DGORO_MUTEX_BROKEN=1): sync.hpp's
// fault injection point GORO_DETAIL_MUTEX_UNLOCK_ORDER is set to relaxed, so
// unlock's fetch_sub no longer releases the critical section: the next owner's
// acquire CAS does not synchronise with it, and its counter access must be
// reported as a DATA RACE (the program must exit non-zero).
//
// Limits: the semaphore synchronises (as sema.hpp's seq_cst count does), so
// orders that only duplicate it are not caught when weakened: lock_slow's
// acquire load after the wake, the acquire on the starvation fix-up and the
// release on unlock_slow's CAS (each set to relaxed, all models still pass).
// Starvation mode and the handoff are about fairness, which a bounded model
// cannot check: unlocking in starvation mode without handoff, or never
// entering starvation mode, keeps mutual exclusion and passes too. What is
// checked there is that the paths are safe (exclusion, ordering, no lost
// wake-up, consistent state: sync.hpp's broken() checks would fail the run,
// and after()'s try_lock fails if the mutex is left locked or starving).
//
// Build and run (exit 0 = every model passed):
//   g++ -std=c++20 -O1 -g -I include -I tests/relacy tests/relacy/mutex.cpp -o m && ./m
#if (defined(GORO_MUTEX_BROKEN) && GORO_MUTEX_BROKEN) || (defined(GORO_RELACY_BROKEN) && GORO_RELACY_BROKEN)
#define GORO_MUTEX_MODEL_BROKEN 1
// The one deliberate bug: unlock's fetch_sub is relaxed instead of release.
#define GORO_DETAIL_MUTEX_UNLOCK_ORDER std::memory_order_relaxed
#else
#define GORO_MUTEX_MODEL_BROKEN 0
#endif

#include <goro/goro.hpp>  // the whole runtime: a part alone is not complete (goro/goro.hpp)

#include <cstdio>

#include "rl_sync.hpp"  // last: includes <relacy/relacy.hpp>, which #defines new, delete, $, ...

namespace {

using goro_rl::rl_sync;
using mutex_t = goro::detail::mutex_impl<rl_sync>;

struct coverage_t {
  unsigned long long try_ok = 0;    // try_lock succeeded
  unsigned long long try_fail = 0;  // try_lock failed (then lock())
};
coverage_t cov;

template <class Derived, rl::thread_id_t Threads, int Rounds, unsigned TryThread>
struct mutex_model : rl::test_suite<Derived, Threads> {
  goro_rl::rl_sema_numbering numbering;  // before m: numbers m's semaphore 0
  mutex_t m;
  static constexpr const char* sema_names[] = {"mutex sema_", nullptr};
  rl::var<int> counter;
  goro_rl::atomic<int> inside{0};  // threads in the critical section (RMWs only: always the latest value)

  static void reset_coverage() { cov = coverage_t{}; }
  static void print_coverage() {
    std::printf("  mutex: try_lock ok %llu, failed %llu\n", cov.try_ok, cov.try_fail);
  }

  void before() {
    rl_sync::reset_iteration();
    counter($) = 0;
  }

  // kRmwChecks: the `inside` RMWs are scheduling points; the exhaustive model
  // leaves them out (an overlap is a DATA RACE on counter anyway).
  static constexpr bool kRmwChecks = true;

  void critical_section() {
    if (Derived::kRmwChecks) RL_ASSERT(inside.fetch_add(1, std::memory_order::relaxed) == 0);  // mutual exclusion
    int c = counter($);
    counter($) = c + 1;
    if (Derived::kRmwChecks) RL_ASSERT(inside.fetch_sub(1, std::memory_order::relaxed) == 1);
  }

  void thread(unsigned me) {
    for (int r = 0; r < Rounds; ++r) {
      if (me == TryThread && r == 0) {
        if (m.try_lock()) {
          ++cov.try_ok;
        } else {
          ++cov.try_fail;
          m.lock();
        }
      } else {
        m.lock();
      }
      critical_section();
      m.unlock();
    }
  }

  void after() {
    RL_ASSERT(counter($) == static_cast<int>(Threads) * Rounds);
    RL_ASSERT(m.try_lock());  // left unlocked and not starving
    m.unlock();
  }
};

struct model_a : mutex_model<model_a, 2, 3, 1> {};
struct model_b : mutex_model<model_b, 3, 2, 2> {};
struct model_c : mutex_model<model_c, 2, 1, 2> {  // TryThread 2: nobody uses try_lock
  static constexpr bool kRmwChecks = false;
};

}  // namespace

int main() {
  std::printf("mutex_impl Relacy models%s\n",
              GORO_MUTEX_MODEL_BROKEN ? ", BROKEN variant (relaxed fetch_sub in unlock): failures are expected" : "");
  bool ok = true;
  ok &= goro_rl::check<model_a>("mutex", "a (2 threads x 3)", rl::sched_random, 300000);
  ok &= goro_rl::check<model_a>("mutex", "a (2 threads x 3)", rl::sched_bound, 0, 3);
  ok &= goro_rl::check<model_b>("mutex", "b (3 threads x 2)", rl::sched_random, 600000);
  ok &= goro_rl::check<model_b>("mutex", "b (3 threads x 2)", rl::sched_bound, 0, 1);
  ok &= goro_rl::check<model_c>("mutex", "c (2 threads x 1)", rl::sched_full, 0);
  std::printf("mutex models: %s\n", ok ? "all passed" : "FAILED");
  return ok ? 0 : 1;
}
