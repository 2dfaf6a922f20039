// goro/sched_timers.hpp — the scheduler's half of Go's runtime/time.go: where
// a timer goes (timer_home), adding and deleting (timer_add / timer_del), who
// runs due timers (check_timers, run_other_timers, sysmon_run_timers), and the
// timer M: the one idle M that sleeps until the earliest timer of any P. The
// heap itself is timers.hpp; timer_sleep and the timer users are above the
// seam (park.hpp, time.hpp, sync.hpp, netpoll.hpp).
#ifndef GORO_DETAIL_SCHED_TIMERS_HPP
#define GORO_DETAIL_SCHED_TIMERS_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "schedt.hpp"
#include "timer_wake.hpp"
#include "timers.hpp"
#include "tls.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// sysmon fires the timers of a P overdue by more than this (see "Timers"):
// 1 ms for a P no M runs (idle, or its M in blocking<>); 20 ms, twice the
// preemption period, for a running P, whose M runs them itself at its next
// switch, at the latest when sysmon's preemption mark reaches a safe point
// (readied there they go to that P's queue; fired by sysmon, to the global
// queue, which a P checks only every 61st schedule).
inline constexpr std::int64_t sysmon_timer_slack_ns = 1'000'000;
inline constexpr std::int64_t sysmon_timer_slack_running_ns = 20'000'000;

// wakep (sched.hpp): an adder without a P makes sure an M watches its timer.
inline void wakep(sched_t* s, bool via_runnext = false);

// ---------------------------------------------------------------------------
// Timers.
//
// Each P owns a timer_heap (p::timers). A timer is added to the heap of the P
// its adder runs on (timer_home); plain threads, and goroutines inside
// blocking<> (no P), use P 0's. It stays there until it fires or is deleted;
// a periodic one is re-armed in place. 100,000 concurrent sleepers cost one
// heap entry each and no thread or fd.
//
// Who runs a P's heap:
//   - its own M, on the arriving side of every switch (run_pending) and at the
//     top of find_runnable: check_timers, one load when nothing is due;
//   - any M in find_runnable, before stealing: the due timers of the other
//     Ps (run_other_timers), for a P that is idle, in blocking<>, or busy with
//     a goroutine that does not switch;
//   - sysmon, for timers overdue by more than sysmon_timer_slack_ns (every M
//     busy, or the one idle M not woken): sysmon_run_timers.
// Who sleeps until them: one idle M, timer_m (find_runnable), until the
// earliest over every heap (timers_earliest), in the netpoller or on its note.
// handoffp starts an M for a P it hands off while timers are pending and no M
// is timer_m, so pending timers are always watched.
//
// Timer M wake-ups (a Dekker pair; its atomic halves are timer_wake.hpp's
// templates, model-checked by tests/relacy/timer_m.cpp). An add that is
// earlier than what timer_m sleeps for must wake it, without every add taking
// sched.lock:
//   timer_m: under sched.lock, stores timer_m_until (seq_cst), then re-reads
//     timers_earliest (seq_cst loads of every heap's next) and starts over
//     with the new value if it changed (timer_m_publish_until);
//   adder:   publishes the heap's next (seq_cst store, timer_heap::publish),
//     then loads timer_m_until (seq_cst); only if its when is earlier does it
//     take sched.lock and wake timer_m (timer_wake_sleeper).
// Either timer_m's re-read sees the new timer, or the adder sees the
// sleeper's until. Deleting the earliest timer is the same pair with
// timer_wake_after_del (del_locked's store is seq_cst too, and timer_m
// starts over when the earliest got later as well as earlier: else it could
// sleep until a timer it saw deleted, while the deleter missed its until). no_sleeper (INT64_MIN) makes the adder's check fail at
// once when no M sleeps: then the adder's own M (it holds the P whose heap it
// added to) watches the timer, and becomes timer_m if it goes idle; an adder
// without a P (a plain thread) wakes an M instead (wakep).
// Deleting the timer timer_m sleeps for wakes it too (timer_wake_after_del):
// it then sleeps for the next one, or goes idle so that checkdead can see
// that nothing is pending.

// timers_earliest: the earliest pending timer over every P, or no_timer. Any
// thread; a snapshot (seq_cst loads: see "Timer M wake-ups").
inline std::int64_t timers_earliest(sched_t* s) noexcept {
  std::int64_t next = no_timer;
  for (p* pp : s->allp) next = std::min(next, pp->timers.earliest());
  return next;
}

// timer_m_publish_until: the timer M's side of "Timer M wake-ups": stores
// what it will sleep until, re-reading the heaps until that is stable.
// Returns it. Requires s->lock; the caller is timer_m.
inline std::int64_t timer_m_publish_until(sched_t* s, std::int64_t next) noexcept {
  return timer_m_until_publish(s->timer_m_until, next, [s]() noexcept { return timers_earliest(s); });
}

// timer_home: the heap an add by the caller goes to, and whether the caller
// holds that heap's P (then its own M watches the timer). Any thread.
inline timer_heap* timer_home(sched_t* s, bool* on_p = nullptr) noexcept {
  m* mp = getm();
  bool mine = mp != nullptr && mp->sched == s && mp->pp != nullptr;
  if (on_p != nullptr) *on_p = mine;
  return mine ? &mp->pp->timers : &s->allp[0]->timers;
}

// timer_wake_sleeper: a timer at `when` was added: if timer_m sleeps for
// later, wake it (the adder's side of "Timer M wake-ups"). Returns false if
// no M sleeps for timers. Call without any heap lock.
inline bool timer_wake_sleeper(sched_t* s, std::int64_t when) {
  timer_sleeper w = timer_sleeper_after_add(s->timer_m_until, when);
  if (w != timer_sleeper::must_wake) return w == timer_sleeper::covers;
  rt_lock_guard lk(s->lock);
  if (s->timer_m == nullptr) return false;
  if (timer_sleeper_after_add(s->timer_m_until, when, std::memory_order_relaxed) != timer_sleeper::must_wake) return true;
  if (s->timer_m_polls) s->np.load(std::memory_order_acquire)->wake();
  else s->timer_m->park.wakeup();
  return true;
}

// timer_wake_after_del: the earliest timer of a heap (when) was deleted: if
// timer_m sleeps until it, wake it, so that it sleeps for the next timer
// instead, or goes idle and lets checkdead see that no timer is left (a
// deadlock is then reported at once, not at the deleted timer's deadline).
// Call without any heap lock.
inline void timer_wake_after_del(sched_t* s, std::int64_t when) noexcept {
  if (timer_sleeper_after_del(s->timer_m_until, when) != timer_sleeper::must_wake) return;
  rt_lock_guard lk(s->lock);
  if (s->timer_m == nullptr ||
      timer_sleeper_after_del(s->timer_m_until, when, std::memory_order_relaxed) != timer_sleeper::must_wake)
    return;
  if (s->timer_m_polls) s->np.load(std::memory_order_acquire)->wake();
  else s->timer_m->park.wakeup();
}

// timer_added: after an add to h (on_p: by h's P's own M) made t the
// earliest of h (earliest), or not: wake whoever must watch it.
inline void timer_added(sched_t* s, std::int64_t when, bool earliest, bool on_p) {
  if (!earliest) return;  // h's earliest, which timer_m already accounts for, is sooner
  if (!timer_wake_sleeper(s, when) && !on_p) wakep(s);
}

// timer_add arms t (not pending) at t->when in the caller's heap
// (timer_home). Only t's owner (timers.hpp). Any M or thread.
inline void timer_add(sched_t* s, rtimer* t) {
  bool on_p;
  timer_heap* h = timer_home(s, &on_p);
  std::int64_t when = t->when;  // t may fire, and its owner go away, once the lock is released
  bool earliest;
  {
    rt_lock_guard lk(h->lock);
    earliest = h->add_locked(t);
  }
  timer_added(s, when, earliest, on_p);
}

// timer_del disarms t; returns whether it was pending. After it returns, t's
// f is neither running nor going to run. Only t's owner (or the shutdown
// unwinder for it). Any M or thread.
inline bool timer_del(sched_t* s, rtimer* t) noexcept {
  timer_heap* h = t->heap.load(std::memory_order_relaxed);  // stable: see timers.hpp
  if (h == nullptr) return false;                           // never armed
  bool was_earliest;
  std::int64_t when;
  {
    rt_lock_guard lk(h->lock);
    if (!t->pending()) return false;
    was_earliest = h->is_earliest_locked(t);
    when = t->when;
    h->del_locked(t);
  }
  if (was_earliest) timer_wake_after_del(s, when);
  return true;
}

// run_timers fires every P's timers due by now: the deterministic
// scheduler's jump of its virtual clock (det.hpp). Any thread holding no heap
// lock.
inline void run_timers(sched_t* s, std::int64_t now) {
  for (p* pp : s->allp) {
    rt_lock_guard lk(pp->timers.lock);
    pp->timers.run_due_locked(now);
  }
}

// sysmon_run_timers: sysmon's backstop. Fires the timers of a P that no M
// ran in time (sysmon_timer_slack_ns: the P idle or in blocking<>;
// sysmon_timer_slack_running_ns: its goroutine never switches). Goroutines
// they ready go to the global queue. Sysmon only (a plain thread: counted in
// plain_threads_in_goro meanwhile, so that checkdead never sees a fired timer
// whose goroutine is not readied yet).
inline void sysmon_run_timers(sched_t* s, std::int64_t now) {
  if (timers_earliest(s) > now - sysmon_timer_slack_ns) return;
  plain_call_scope scope;
  for (p* pp : s->allp) {
    std::int64_t slack = pp->status.load(std::memory_order_relaxed) == p_running ? sysmon_timer_slack_running_ns : sysmon_timer_slack_ns;
    if (pp->timers.next.load(std::memory_order_relaxed) > now - slack || !pp->timers.lock.try_lock()) continue;
    pp->timers.run_due_locked(nanotime());
    pp->timers.lock.unlock();
  }
}

// check_timers runs pp's due timers: one load when none is due. pp's M
// (owner P), on every switch and in find_runnable.
inline void check_timers(p* pp) {
  std::int64_t next = pp->timers.next.load(std::memory_order_relaxed);  // a hint: the heap's lock decides
  if (GORO_DETAIL_UNLIKELY(next != no_timer)) {
    std::int64_t now = nanotime();
    if (now >= next) {
      rt_lock_guard lk(pp->timers.lock);
      pp->timers.run_due_locked(now);
    }
  }
}

// run_other_timers runs the due timers of Ps other than self (a busy P whose
// G does not switch, an idle P, a P whose M is in blocking<>), skipping a
// heap somebody is running right now (Go: stealWork's checkTimers). The Gs
// they ready go to self's queue. Returns whether any fired. Any M holding
// self, on g0.
inline bool run_other_timers(sched_t* s, p* self) {
  std::int64_t now = 0;
  bool fired = false;
  for (p* other : s->allp) {
    if (other == self) continue;
    std::int64_t next = other->timers.next.load(std::memory_order_relaxed);
    if (next == no_timer) continue;
    if (now == 0) now = nanotime();
    if (next > now || !other->timers.lock.try_lock()) continue;
    fired = other->timers.run_due_locked(now) > 0 || fired;
    other->timers.lock.unlock();
  }
  return fired;
}

// all_timer_heaps holds every P's heap lock, in P order: the only place that
// holds two heap locks (a deadline change re-arming timers that may sit in
// any heap; see netpoll.hpp's lock order). Any M or thread holding no heap lock.
class all_timer_heaps {
 public:
  explicit all_timer_heaps(sched_t* s) noexcept : s_(s) {
    for (p* pp : s_->allp) pp->timers.lock.lock();
  }
  ~all_timer_heaps() {
    for (std::size_t i = s_->allp.size(); i-- > 0;) s_->allp[i]->timers.lock.unlock();
  }
  all_timer_heaps(const all_timer_heaps&) = delete;
  all_timer_heaps& operator=(const all_timer_heaps&) = delete;

 private:
  sched_t* s_;
};

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SCHED_TIMERS_HPP
