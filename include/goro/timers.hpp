// goro/timers.hpp — runtime timers and the timer heap each P owns (Go:
// runtime/time.go, the heap half; the scheduler's half, who runs the heaps and
// who sleeps until them, is in sched.hpp, "Timers").
//
// An rtimer lives wherever its owner put it (a sleeping goroutine's stack, a
// goro::timer's state, a poll waiter's record) and is linked into one
// timer_heap while pending. A timer_heap is a 4-ary min-heap by (when, seq)
// under its own lock, indexed so that deleting any timer is O(log n) (Go
// 1.14+: 4-ary, one heap per P, so that timer operations of different Ps do
// not contend). Each heap slot holds the timer's when and seq next to its
// pointer (Go 1.23's timerWhen): sifting compares slots in the heap's own
// array and touches a timer only to update its index, which matters because
// timers are scattered over goroutine stacks (100,000 sleepers: a cache miss
// per timer touched). Its `next` caches the earliest when (no_timer when
// empty) so that the scheduler checks a heap with one atomic load.
//
// Invariants:
//   - Every field of a pending rtimer, and t->index even when not pending, is
//     guarded by the lock of the heap t->heap names.
//   - t->heap changes only in an add, made by the timer's owner (the goroutine
//     that sleeps or waits, or a goro::timer's stop/reset, serialized by the
//     timer's own mutex). So the owner, and the shutdown unwinder (ordered
//     after the owner's add by the park protocol), may read t->heap and lock
//     that heap without racing an add of t.
//   - t->heap is never cleared: after t fires, locking t->heap still waits for
//     a firing of t that is in progress (stop/reset rely on it, time.hpp).
//   - f runs with the heap's lock held, on whichever thread runs that heap
//     (the P's M, a thief, or sysmon): it may take leaf locks (a channel's, a
//     notify list's, a poll_desc's) and ready goroutines, but never a heap
//     lock; nothing takes a heap lock while holding such a leaf lock. So once
//     a delete of t returns, f is neither running nor going to run. The only
//     place that holds two heap locks at once takes them in P order
//     (netpoll.hpp, pd_set_deadline).
//
// The functions here are the heap's whole interface (add / del / run_due /
// earliest), so that another scheduler (the deterministic one, on virtual
// time) can drive the same heaps.
#ifndef GORO_DETAIL_TIMERS_HPP
#define GORO_DETAIL_TIMERS_HPP

#include "config.hpp"
#include "lock.hpp"

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::int64_t no_timer = INT64_MAX;

struct timer_heap;

// rtimer: a runtime timer (Go: runtime.timer). See the file comment.
struct rtimer {
  static constexpr std::size_t not_pending = SIZE_MAX;
  std::int64_t when = 0;            // nanotime() to fire at
  std::int64_t period = 0;          // > 0: re-armed period ns later after firing (tickers)
  std::uint64_t seq = 0;            // FIFO among equal whens
  std::size_t index = not_pending;  // position in the heap
  std::atomic<timer_heap*> heap{nullptr};  // the heap of the last add (never cleared); written by the owner
  void (*f)(rtimer*, std::int64_t now) noexcept = nullptr;
  void* arg = nullptr;
  bool pending() const noexcept { return index != not_pending; }
};

// timer_heap: one P's timers. See the file comment.
struct timer_heap {
  static constexpr std::size_t arity = 4;  // Go: 4-ary (shallower than binary; siftdown reads one line of children)

  // slot: a pending timer and its key, copied from it at add (the key of a
  // pending timer changes only through del + add, or in run_due_locked).
  struct slot {
    std::int64_t when;
    std::uint64_t seq;
    rtimer* t;
  };

  rt_mutex lock;
  std::vector<slot> heap;           // lock
  std::uint64_t seq = 0;            // lock
  // next: the earliest when, or no_timer. Written under lock with a seq_cst
  // store; read without it (seq_cst) by the scheduler. seq_cst because the
  // timer M's sleep is a Dekker pair with adds: see "Timers" in sched.hpp.
  std::atomic<std::int64_t> next{no_timer};

  // earliest: the when of the earliest pending timer, or no_timer. Any thread;
  // a snapshot.
  std::int64_t earliest() const noexcept { return next.load(std::memory_order_seq_cst); }

  // add_locked arms t (not pending) at t->when in this heap; returns true if
  // t is now the earliest. Requires lock.
  bool add_locked(rtimer* t) {
    t->seq = seq++;
    t->heap.store(this, std::memory_order_relaxed);  // the owner's own write (see the file comment)
    heap.push_back(slot{t->when, t->seq, t});
    std::size_t at = up(heap.size() - 1);
    publish();
    return at == 0;
  }

  // del_locked disarms t if it is pending here; returns whether it was.
  // Requires lock (of t->heap, which must be this heap).
  bool del_locked(rtimer* t) noexcept {
    if (!t->pending()) return false;
    std::size_t i = t->index;
    std::size_t last = heap.size() - 1;
    t->index = rtimer::not_pending;
    if (i != last) {
      slot moved = heap[last];
      heap.pop_back();
      place(i, moved);
      if (up(i) == i) down(i);
    } else {
      heap.pop_back();
    }
    publish();
    return true;
  }

  // run_due_locked fires every timer due by now, in (when, seq) order; a
  // periodic one is re-armed first (at the next multiple of its period after
  // now: ticks missed are dropped, as in Go). Returns how many fired.
  // Requires lock; f runs with it held.
  std::size_t run_due_locked(std::int64_t now) {
    std::size_t fired = 0;
    while (!heap.empty() && heap.front().when <= now) {
      rtimer* t = heap.front().t;
      if (t->period > 0) {
        t->when += t->period * (1 + (now - t->when) / t->period);
        t->seq = seq++;
        heap.front().when = t->when;
        heap.front().seq = t->seq;
        down(0);
        publish();
      } else {
        del_locked(t);
      }
      t->f(t, now);
      ++fired;
    }
    return fired;
  }

  std::size_t size_locked() const noexcept { return heap.size(); }

 private:
  static bool less(const slot& a, const slot& b) noexcept { return a.when != b.when ? a.when < b.when : a.seq < b.seq; }
  void place(std::size_t i, const slot& x) noexcept {
    heap[i] = x;
    x.t->index = i;
  }
  // up / down sift the slot at i; up returns where it ends.
  std::size_t up(std::size_t i) noexcept {
    slot t = heap[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / arity;
      if (!less(t, heap[parent])) break;
      place(i, heap[parent]);
      i = parent;
    }
    place(i, t);
    return i;
  }
  void down(std::size_t i) noexcept {
    std::size_t n = heap.size();
    slot t = heap[i];
    for (;;) {
      std::size_t c = i * arity + 1;
      if (c >= n) break;
      std::size_t best = c;
      std::size_t end = c + arity < n ? c + arity : n;
      for (std::size_t k = c + 1; k < end; ++k)
        if (less(heap[k], heap[best])) best = k;
      if (!less(heap[best], t)) break;
      place(i, heap[best]);
      i = best;
    }
    place(i, t);
  }
  void publish() noexcept {
    std::int64_t w = heap.empty() ? no_timer : heap.front().when;
    if (next.load(std::memory_order_relaxed) != w) next.store(w, std::memory_order_seq_cst);
  }
};

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TIMERS_HPP
