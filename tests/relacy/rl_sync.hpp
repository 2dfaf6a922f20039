// tests/relacy/rl_sync.hpp — rl_sync, the platform P that sync.hpp's
// mutex_impl<P>, rwmutex_impl<P> and wait_group_impl<P> are instantiated with
// in the Relacy models (mutex.cpp, rwmutex.cpp, wait_group.cpp), in place of
// the runtime's detail::runtime_sync:
//
//   atomic<T>     goro_rl::atomic<T> (rl_atomic.hpp): Relacy's memory model.
//   sema_t        rl_sema: a model of sema.hpp's semaphore, built the same way
//                 (see below) from goro_rl atomics, an rl::mutex (the bucket
//                 lock) and an rl::condition_variable (park/ready).
//   semacquire /  sema.hpp's algorithm: fast path, nwait + re-check under the
//   semrelease    lock, FIFO queue (lifo: at the head), requeue at the head
//                 after a lost race; semrelease with handoff gives the count
//                 straight to the first waiter (its ticket), so a newcomer
//                 cannot take it.
//   nanotime      a modelled clock: every call advances it by 1 us or, as a
//                 nondeterministic choice (rl::rand, enumerated by the
//                 exhaustive schedulers), by 2 ms. A waiter for which any
//                 call since its first one (its own second call, or another
//                 thread's) took the long step has waited over 1 ms, so the
//                 mutex's starvation mode is reachable.
//   can_spin      iter < 2, and a nondeterministic choice (on a real machine it
//                 depends on idle Ps and the local run queue).
//   spin          rl::yield: a scheduling point that tells Relacy the thread
//                 is spinning.
//   misuse/broken fail the Relacy test with the message (RL_ASSERT-like).
//
// Every call is counted in rl_sync::stats (observation only: it never steers
// the model), which the models print so a reader can see that the slow paths,
// parking, handoff and starvation mode were reached.
//
// Lifetime: an rl_sema contains Relacy objects, which register with the
// running Relacy context when constructed; like goro_rl::atomic it must be
// constructed during an iteration (test_suite member, before() or thread()).
// Call rl_sync::reset_iteration() from before(): it rewinds the clock.
//
// Include order: after every std and goro header (rl_atomic.hpp includes
// <relacy/relacy.hpp>, which #defines new, delete, $, ...).
#ifndef GORO_TESTS_RELACY_RL_SYNC_HPP
#define GORO_TESTS_RELACY_RL_SYNC_HPP

#include <goro/goro.hpp>  // the whole runtime: a part alone is not complete (goro/goro.hpp)

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "rl_atomic.hpp"  // last: includes <relacy/relacy.hpp>

namespace goro_rl {

// Semaphores are numbered in construction order within an iteration (for the
// per-semaphore counters): a model puts an rl_sema_numbering member before the
// sync object, which restarts the numbering when the test_suite is built.
constexpr int kMaxSemas = 4;
inline int next_sema_id = 0;

struct rl_sema_numbering {
  rl_sema_numbering() { next_sema_id = 0; }
};

// rl_sema: sema.hpp's semaphore for one address. count_ is the semaphore value
// (what runtime_sync's sema_t is); nwait_, the queue and lock_ stand for the
// address's sema_root bucket. The queue fields are guarded by lock_.
class rl_sema {
 public:
  explicit rl_sema(std::uint32_t n) : count_(n), nwait_(0), id_(next_sema_id < kMaxSemas - 1 ? next_sema_id++ : kMaxSemas - 1) {}

 private:
  friend struct rl_sync;

  struct waiter {
    waiter* next = nullptr;
    waiter* prev = nullptr;
    bool queued = false;
    bool woken = false;   // ready() was called: the park ends
    bool ticket = false;  // handoff: the releaser gave this waiter the count
  };

  void enqueue(waiter* w, bool lifo) {
    w->queued = true;
    w->woken = false;
    if (lifo) {
      w->prev = nullptr;
      w->next = head_;
      if (head_ != nullptr) head_->prev = w;
      else tail_ = w;
      head_ = w;
    } else {
      w->next = nullptr;
      w->prev = tail_;
      if (tail_ != nullptr) tail_->next = w;
      else head_ = w;
      tail_ = w;
    }
  }

  waiter* dequeue() {
    waiter* w = head_;
    if (w == nullptr) return nullptr;
    head_ = w->next;
    if (head_ != nullptr) head_->prev = nullptr;
    else tail_ = nullptr;
    w->next = w->prev = nullptr;
    w->queued = false;
    return w;
  }

  atomic<std::uint32_t> count_;
  atomic<std::uint32_t> nwait_;
  rl::mutex lock_;
  rl::condition_variable cv_;  // every parked waiter of this semaphore sleeps here
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
  int id_;  // construction order in the iteration (last slot shared by any extra ones)
};

// Path counters, summed over the iterations of one rl::simulate run.
struct sync_stats {
  unsigned long long acquire_fast = 0;      // semacquire: cansemacquire on entry
  unsigned long long acquire_recheck = 0;   // semacquire: got it on the re-check under the lock
  unsigned long long parks = 0;             // semacquire parked (queued)
  unsigned long long parks_lifo = 0;        // ... at the head of the queue (lifo)
  unsigned long long woke_ticket = 0;       // woke with the count handed off (ticket)
  unsigned long long woke_took = 0;         // woke, no ticket, took the count itself
  unsigned long long woke_lost = 0;         // woke, no ticket, lost the count to another: requeued
  unsigned long long release_nobody = 0;    // semrelease: nobody waiting
  unsigned long long release_wake = 0;      // semrelease: woke a waiter (no handoff)
  unsigned long long release_handoff = 0;   // semrelease(handoff): woke a waiter with a ticket
  unsigned long long release_handoff_no_ticket = 0;  // semrelease(handoff): count taken first, no ticket
  unsigned long long nanotime_long = 0;     // nanotime took the 2 ms step
  unsigned long long nanotime_calls = 0;
  unsigned long long spins = 0;             // P::spin() calls (can_spin said yes)
  unsigned long long spin_denied = 0;       // can_spin said no (nondeterministic choice or iter >= 2)
  unsigned long long parks_by[kMaxSemas] = {};  // parks per semaphore (construction order)
  unsigned long long wakes_by[kMaxSemas] = {};  // semreleases that woke a waiter, per semaphore
};

struct rl_sync {
  using stats_t = sync_stats;
  template <class T>
  using atomic = goro_rl::atomic<T>;
  using sema_t = rl_sema;

  static inline stats_t stats{};
  static inline std::int64_t clock_ns = 0;

  static void reset_iteration() { clock_ns = 1'000'000'000; }

  // The models never run inside goro::blocking<>.
  static bool parking_forbidden() noexcept { return false; }
  [[noreturn]] static void cannot_park() { broken("cannot_park: the models never run inside blocking<>"); }

  static bool cansemacquire(sema_t* s) {
    std::uint32_t v = s->count_.load(std::memory_order::seq_cst);
    while (v != 0) {
      if (s->count_.compare_exchange_weak(v, v - 1, std::memory_order::seq_cst, std::memory_order::seq_cst)) return true;
    }
    return false;
  }

  static void semacquire(sema_t* s, goro::detail::wait_reason, bool lifo = false, goro::detail::wait_desc = {}) {
    if (cansemacquire(s)) {
      ++stats.acquire_fast;
      return;
    }
    rl_sema::waiter w;
    for (;;) {
      s->lock_.lock($);
      s->nwait_.fetch_add(1, std::memory_order::seq_cst);
      if (cansemacquire(s)) {
        s->nwait_.fetch_sub(1, std::memory_order::seq_cst);
        s->lock_.unlock($);
        ++stats.acquire_recheck;
        return;
      }
      s->enqueue(&w, lifo);
      ++stats.parks;
      ++stats.parks_by[s->id_];
      stats.parks_lifo += lifo;
      // park: sleep until semrelease dequeued us and set woken (the condition
      // variable may wake spuriously; Relacy reports a DEADLOCK if nobody ever
      // sets it, i.e. a lost wake-up).
      while (!w.woken) s->cv_.wait(s->lock_, $);
      bool ticket = w.ticket;
      s->lock_.unlock($);
      if (ticket) {
        ++stats.woke_ticket;
        return;
      }
      if (cansemacquire(s)) {
        ++stats.woke_took;
        return;
      }
      ++stats.woke_lost;
      lifo = true;  // sema.hpp: requeue at the head after a lost race
    }
  }

  static void semrelease(sema_t* s, bool handoff = false) {
    s->count_.fetch_add(1, std::memory_order::seq_cst);
    if (s->nwait_.load(std::memory_order::seq_cst) == 0) {
      ++stats.release_nobody;
      return;
    }
    s->lock_.lock($);
    if (s->nwait_.load(std::memory_order::seq_cst) == 0) {
      s->lock_.unlock($);
      ++stats.release_nobody;
      return;
    }
    rl_sema::waiter* w = s->dequeue();
    if (w == nullptr) {
      s->lock_.unlock($);
      ++stats.release_nobody;
      return;
    }
    s->nwait_.fetch_sub(1, std::memory_order::seq_cst);
    ++stats.wakes_by[s->id_];
    if (handoff && cansemacquire(s)) {
      w->ticket = true;
      ++stats.release_handoff;
    } else if (handoff) {
      ++stats.release_handoff_no_ticket;
    } else {
      ++stats.release_wake;
    }
    w->woken = true;  // ready(w)
    s->cv_.notify_all($);
    s->lock_.unlock($);
  }

  static std::int64_t nanotime() {
    ++stats.nanotime_calls;
    if (rl::rand(2) != 0) {
      ++stats.nanotime_long;
      clock_ns += 2'000'000;
    } else {
      clock_ns += 1'000;
    }
    return clock_ns;
  }

  static bool can_spin(int iter) {
    if (iter < 2 && rl::rand(2) == 0) return true;
    ++stats.spin_denied;
    return false;
  }

  static void spin() {
    ++stats.spins;
    rl::yield(1, $);
  }

  [[noreturn]] static void misuse(const char* msg) {
    rl::ctx().fail_test(msg, rl::test_result_user_assert_failed, $);
    std::abort();  // not reached: fail_test leaves the thread's fiber
  }
  [[noreturn]] static void broken(const char* msg) {
    rl::ctx().fail_test(msg, rl::test_result_user_assert_failed, $);
    std::abort();
  }

  // names: the model's semaphores in construction order (nullptr-terminated).
  static void print_stats(const char* const* names) {
    const stats_t& s = stats;
    for (int i = 0; i < kMaxSemas && names[i] != nullptr; ++i)
      std::printf("  %s: parked %llu, woken by semrelease %llu\n", names[i], s.parks_by[i], s.wakes_by[i]);
    std::printf("  sema: acquire fast %llu, re-check %llu, parked %llu (lifo %llu); woke with ticket %llu, "
                "took it %llu, lost it %llu\n",
                s.acquire_fast, s.acquire_recheck, s.parks, s.parks_lifo, s.woke_ticket, s.woke_took, s.woke_lost);
    std::printf("  sema: release to nobody %llu, woke %llu, handoff %llu, handoff without ticket %llu\n",
                s.release_nobody, s.release_wake, s.release_handoff, s.release_handoff_no_ticket);
    std::printf("  nanotime calls %llu (2 ms steps %llu), spins %llu, spin denied %llu\n", s.nanotime_calls,
                s.nanotime_long, s.spins, s.spin_denied);
  }
};

// check runs rl::simulate<M> with one search strategy and prints the verdict,
// the time, and rl_sync's path counters for that run.
template <class M>
bool check(const char* model, const char* name, rl::scheduler_type_e search, rl::iteration_t iterations,
           unsigned context_bound = 1) {
  return run_model<M>(
      model, name, search, iterations, context_bound,
      [] {
        rl_sync::stats = rl_sync::stats_t{};
        M::reset_coverage();
      },
      [] {
        M::print_coverage();
        rl_sync::print_stats(M::sema_names);
      });
}

}  // namespace goro_rl

#endif  // GORO_TESTS_RELACY_RL_SYNC_HPP
