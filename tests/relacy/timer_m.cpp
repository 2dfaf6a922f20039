// tests/relacy/timer_m.cpp — Relacy models of the timer M's wake-up pair:
// timer_wake.hpp's timer_m_until_publish (the timer M's half, sched_timers.hpp's
// timer_m_publish_until), timer_sleeper_after_add and timer_sleeper_after_del
// (the adder's and deleter's halves, timer_wake_sleeper and
// timer_wake_after_del), instantiated over goro_rl::atomic, so Relacy checks
// the code the runtime runs. See "Timer M wake-ups" in docs/design.md.
//
// What is modelled: two P heaps, each a few `when` slots under the heap's
// lock (an rl::mutex) and its published `next` (the earliest, stored seq_cst
// when it changes, as timer_heap::publish after add_locked / del_locked;
// read seq_cst by timers_earliest); `timer_m_until` and, under sched_lock,
// whether an M is timer_m and whether it was woken.
//   - The timer M (find_runnable's end): under sched_lock reads the earliest
//     timer, becomes timer_m, timer_m_until_publish, then sleeps until what
//     that returned.
//   - An adder: inserts under the heap lock, publishes; if its timer became
//     the heap's earliest, timer_sleeper_after_add and, on must_wake, the
//     re-check under sched_lock and the wake (timer_wake_sleeper).
//   - A deleter: removes a heap's earliest timer, publishes, then
//     timer_sleeper_after_del and the wake (timer_wake_after_del).
// The property, when every thread is done: a timer M that was not woken
// sleeps until exactly the earliest live timer: never past it (an added
// earlier timer would fire late), and never until a deleted one (it would
// wake for nothing, and while it sleeps checkdead cannot see that no timer is
// left).
//   a: the timer M + an adder (an earlier timer on the other heap)   2 threads
//   b: the timer M + a deleter (the earliest timer)                  2 threads
//   c: the timer M + a deleter of the earliest timer + an adder of
//      a timer between the deleted one and the next one              3 threads
//   d: the timer M + a deleter of heap 0's earliest timer (10, or 5
//      if the add came first) + an adder of 5 on the same heap       3 threads
// Each: random 200k + context bound (3 for two threads, 2 for three).
//
// Broken variant (GORO_RELACY_BROKEN=1): timer_wake.hpp's fault injection
// point GORO_DETAIL_TIMER_M_RECHECK = 0: the timer M publishes its until
// without re-reading the heaps. An adder that published its timer after the
// timer M's read but read until before the timer M's store sees no sleeper
// and wakes nobody, and the timer M sleeps past the new timer (the deleter:
// until the deleted one). Every model must fail.
//
// Build and run (exit 0 = every model passed):
//   g++ -std=c++20 -O1 -g -I include -I tests/relacy tests/relacy/timer_m.cpp -o tm && ./tm
#if defined(GORO_RELACY_BROKEN) && GORO_RELACY_BROKEN
#define GORO_TIMER_M_MODEL_BROKEN 1
#define GORO_DETAIL_TIMER_M_RECHECK 0
#else
#define GORO_TIMER_M_MODEL_BROKEN 0
#endif

#include <goro/timer_wake.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>

#include "rl_atomic.hpp"  // last: includes <relacy/relacy.hpp>, which #defines new, delete, $, ...

namespace {

using goro::detail::no_sleeper;
using goro::detail::timer_sleeper;
constexpr std::int64_t kNoTimer = INT64_MAX;  // timers.hpp's no_timer
constexpr int kSlots = 3;
constexpr bool kBroken = GORO_TIMER_M_MODEL_BROKEN != 0;

struct coverage_t {
  unsigned long long woken = 0;         // the timer M was woken
  unsigned long long saw_change = 0;    // its re-read saw a change and it published again
  unsigned long long adder_none = 0;    // an adder / deleter saw no sleeper
  unsigned long long adder_covers = 0;  // ... saw a sleeper that wakes early enough
};
coverage_t cov;

// A P's timer heap: `when` slots (0: free) under lock, and the published next.
struct heap {
  rl::mutex lock;
  rl::var<std::int64_t> when[kSlots];
  goro_rl::atomic<std::int64_t> next{kNoTimer};

  std::int64_t min_locked() {
    std::int64_t m = kNoTimer;
    for (auto& w : when)
      if (w($) != 0) m = std::min<std::int64_t>(m, w($));
    return m;
  }
  // timer_heap::publish(seq_cst): store next if it changed.
  void publish_locked() {
    std::int64_t m = min_locked();
    if (next.load(std::memory_order::relaxed) != m) next.store(m, std::memory_order::seq_cst);
  }
};

template <class Derived, rl::thread_id_t Threads>
struct timer_model : rl::test_suite<Derived, Threads> {
  heap heaps[2];
  goro_rl::atomic<std::int64_t> until{no_sleeper};
  rl::mutex sched_lock;
  rl::var<int> timer_m;      // sched_lock: an M is timer_m
  rl::var<int> woken;        // sched_lock: the timer M was woken
  rl::var<std::int64_t> slept_until;  // the timer M only

  void before() {
    for (auto& h : heaps)
      for (auto& w : h.when) w($) = 0;
    timer_m($) = 0;
    woken($) = 0;
    slept_until($) = 0;
    static_cast<Derived*>(this)->init();
    for (auto& h : heaps) h.next.store(h.min_locked(), std::memory_order::relaxed);
  }

  void after() {
    std::int64_t live = std::min(heaps[0].min_locked(), heaps[1].min_locked());
    cov.woken += woken($) != 0;
    if (woken($) == 0) RL_ASSERT(slept_until($) == live);
  }

  std::int64_t earliest() {
    return std::min(heaps[0].next.load(std::memory_order::seq_cst), heaps[1].next.load(std::memory_order::seq_cst));
  }

  // find_runnable's end: become timer_m and sleep until the earliest timer.
  void timer_m_sleep() {
    sched_lock.lock($);
    std::int64_t first = earliest();
    timer_m($) = 1;
    std::int64_t next = goro::detail::timer_m_until_publish(until, first, [this] { return earliest(); });
    cov.saw_change += next != first;
    sched_lock.unlock($);
    slept_until($) = next;
  }

  void wake_locked() { woken($) = 1; }

  void count(timer_sleeper w) {
    cov.adder_none += w == timer_sleeper::none;
    cov.adder_covers += w == timer_sleeper::covers;
  }

  // timer_add + timer_added (the adder holds the heap's P: with no sleeper
  // its own M watches the timer) + timer_wake_sleeper.
  void add(int hi, std::int64_t w) {
    heap& h = heaps[hi];
    h.lock.lock($);
    std::int64_t before_min = h.min_locked();
    bool placed = false;
    for (auto& s : h.when)
      if (!placed && s($) == 0) {
        s($) = w;
        placed = true;
      }
    RL_ASSERT(placed);
    bool is_earliest = w < before_min;
    h.publish_locked();
    h.lock.unlock($);
    if (!is_earliest) return;
    timer_sleeper ws = goro::detail::timer_sleeper_after_add(until, w);
    count(ws);
    if (ws != timer_sleeper::must_wake) return;
    sched_lock.lock($);
    if (timer_m($) != 0 &&
        goro::detail::timer_sleeper_after_add(until, w, std::memory_order::relaxed) == timer_sleeper::must_wake)
      wake_locked();
    sched_lock.unlock($);
  }

  // timer_del of heap hi's earliest timer + timer_wake_after_del.
  void del_earliest(int hi) {
    heap& h = heaps[hi];
    h.lock.lock($);
    std::int64_t w = h.min_locked();
    for (auto& s : h.when)
      if (s($) == w) s($) = 0;
    h.publish_locked();
    h.lock.unlock($);
    timer_sleeper ws = goro::detail::timer_sleeper_after_del(until, w);
    count(ws);
    if (ws != timer_sleeper::must_wake) return;
    sched_lock.lock($);
    if (timer_m($) != 0 &&
        goro::detail::timer_sleeper_after_del(until, w, std::memory_order::relaxed) == timer_sleeper::must_wake)
      wake_locked();
    sched_lock.unlock($);
  }
};

// (a) heap 0: 30. The timer M sleeps; a goroutine on P1 adds 10 to heap 1.
struct model_a : timer_model<model_a, 2> {
  void init() { heaps[0].when[0]($) = 30; }
  void thread(unsigned me) {
    if (me == 0) timer_m_sleep();
    else add(1, 10);
  }
};

// (b) heap 0: 10, 30. The timer M sleeps; 10 is deleted.
struct model_b : timer_model<model_b, 2> {
  void init() {
    heaps[0].when[0]($) = 10;
    heaps[0].when[1]($) = 30;
  }
  void thread(unsigned me) {
    if (me == 0) timer_m_sleep();
    else del_earliest(0);
  }
};

// (c) heap 0: 10, 30. The timer M sleeps; 10 is deleted; 20 is added to heap 1.
struct model_c : timer_model<model_c, 3> {
  void init() {
    heaps[0].when[0]($) = 10;
    heaps[0].when[1]($) = 30;
  }
  void thread(unsigned me) {
    if (me == 0) timer_m_sleep();
    else if (me == 1) del_earliest(0);
    else add(1, 20);
  }
};

// (d) heap 0: 10, 30. The timer M sleeps; heap 0's earliest is deleted; 5 is
//     added to heap 0.
struct model_d : timer_model<model_d, 3> {
  void init() {
    heaps[0].when[0]($) = 10;
    heaps[0].when[1]($) = 30;
  }
  void thread(unsigned me) {
    if (me == 0) timer_m_sleep();
    else if (me == 1) del_earliest(0);
    else add(0, 5);
  }
};

template <class M>
bool check(const char* name, rl::scheduler_type_e search, rl::iteration_t iterations, unsigned context_bound = 1) {
  return goro_rl::run_model<M>("timer_m", name, search, iterations, context_bound, [] { cov = coverage_t{}; }, [] {
    std::printf("  coverage: timer M woken %llu, re-read saw a change %llu, add/del saw no sleeper %llu, "
                "a sleeper that covers it %llu\n",
                cov.woken, cov.saw_change, cov.adder_none, cov.adder_covers);
  });
}

}  // namespace

int main() {
  std::printf("timer M wake-up Relacy models%s\n",
              kBroken ? ", BROKEN variant (the timer M does not re-read the heaps): failures are expected" : "");
  bool ok = true;
  ok &= check<model_a>("a (earlier add)", rl::sched_random, 200000);
  ok &= check<model_a>("a (earlier add)", rl::sched_bound, 0, 3);
  ok &= check<model_b>("b (delete the earliest)", rl::sched_random, 200000);
  ok &= check<model_b>("b (delete the earliest)", rl::sched_bound, 0, 3);
  ok &= check<model_c>("c (delete + add on the other heap)", rl::sched_random, 200000);
  ok &= check<model_c>("c (delete + add on the other heap)", rl::sched_bound, 0, 2);
  ok &= check<model_d>("d (delete + earlier add on the same heap)", rl::sched_random, 200000);
  ok &= check<model_d>("d (delete + earlier add on the same heap)", rl::sched_bound, 0, 2);
  std::printf("timer_m models: %s\n", ok ? "all passed" : "FAILED");
  return ok ? 0 : 1;
}
