// goro/timers.hpp — runtime timers and the timer heap each P owns (Go:
// runtime/time.go, the heap half; the scheduler's half, who runs the heaps and
// who sleeps until them, is in sched_timers.hpp, "Timers").
//
// An rtimer lives wherever its owner put it (a sleeping goroutine's stack, a
// goro::timer's state, a poll waiter's record) and is linked into one
// timer_heap while pending. A timer_heap is a 4-ary min-heap by (when, seq)
// under its own lock, indexed so that deleting any timer is O(log n) (Go
// 1.14+: 4-ary, one heap per P, so that timer operations of different Ps do
// not contend). Sifting never touches the timers themselves (see "Layout" at
// timer_heap). Its `next` caches the earliest when (no_timer when empty) so
// that the scheduler checks a heap with one atomic load.
//
// Invariants:
//   - Every field of a pending rtimer, and t->id even when not pending, is
//     guarded by the lock of the heap t->heap names.
//   - t->heap changes only in an add, made by the timer's owner (the goroutine
//     that sleeps or waits, or a goro::timer's stop/reset, serialized by the
//     timer's own mutex), or by netpoll's set_deadline while it holds every
//     heap lock and the waiter is still queued (netpoll.hpp). So the owner,
//     and the shutdown unwinder (ordered after the owner's add by the park
//     protocol), may read t->heap and lock that heap without racing an add.
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
  static constexpr std::uint32_t not_pending = UINT32_MAX;
  std::int64_t when = 0;            // nanotime() to fire at
  std::int64_t period = 0;          // > 0: re-armed period ns later after firing (tickers)
  std::uint64_t seq = 0;            // FIFO among equal whens
  std::uint32_t id = not_pending;   // its entry in the heap's table while pending
  std::atomic<timer_heap*> heap{nullptr};  // the heap of the last add (never cleared); written by the owner
  void (*f)(rtimer*, std::int64_t now) noexcept = nullptr;
  void* arg = nullptr;
  bool pending() const noexcept { return id != not_pending; }
};

// timer_heap: one P's timers. See the file comment.
//
// Layout: heap holds slots {when, seq, timer, id} ordered as a 4-ary
// min-heap; id names an entry of table, the position of the timer's slot,
// which a pending timer keeps (rtimer::id) from add to delete. Sifting
// compares slots in the heap array and records moves in table, both arrays
// of this heap: it never touches the timers themselves, which are scattered
// over goroutine stacks and last written by other cores (with 100,000
// sleepers, a write to each moved timer's own index was most of the firing
// cost). Go 1.23 keeps when inline for the same reason (timerWhen).
struct timer_heap {
  static constexpr std::size_t arity = 4;  // Go: 4-ary (shallower than binary; one line of children per level)

  struct slot {  // a pending timer's key, copied from it at add
    std::int64_t when;
    std::uint64_t seq;
    rtimer* t;
    std::uint32_t id;
  };
  struct entry {
    std::size_t pos;  // index of its timer's slot in heap
  };

  rt_mutex lock;
  std::vector<slot> heap;                // lock
  std::vector<entry> table;              // lock: by id; entries of free ids are stale
  std::vector<std::uint32_t> free_ids;   // lock
  std::uint64_t seq = 0;                 // lock
  // next: the earliest when, or no_timer. Written under lock; read without it
  // by the scheduler. add_locked and del_locked store it seq_cst: the timer
  // M's sleep is a Dekker pair with adds and deletes ("Timer M wake-ups" in
  // sched_timers.hpp). A firing may leave it low for a while (run_due_locked
  // publishes once per batch, after the firings) and stores it with release:
  // a stale low value only makes a reader look at the heap, or wake, for
  // nothing, and a timer M sleeping until a fired timer wakes then anyway.
  std::atomic<std::int64_t> next{no_timer};

  // earliest: the when of the earliest pending timer, or no_timer. Any thread;
  // a snapshot.
  std::int64_t earliest() const noexcept { return next.load(std::memory_order_seq_cst); }

  // add_locked arms t (not pending) at t->when in this heap; returns true if
  // t is now the earliest. Requires lock.
  bool add_locked(rtimer* t) {
    GORO_DETAIL_DCHECK(lock.held(), "add_locked: lock not held");
    std::uint32_t id;
    if (!free_ids.empty()) {
      id = free_ids.back();
      free_ids.pop_back();
    } else {
      id = static_cast<std::uint32_t>(table.size());
      table.push_back(entry{0});
      free_ids.reserve(table.capacity());  // so that del_locked's push_back never allocates
    }
    t->id = id;
    t->seq = seq++;
    t->heap.store(this, std::memory_order_relaxed);  // the owner's own write (see the file comment)
    heap.push_back(slot{t->when, t->seq, t, id});
    std::size_t at = up(heap.size() - 1);
    publish(std::memory_order_seq_cst);
    return at == 0;
  }

  // del_locked disarms t if it is pending here; returns whether it was.
  // Requires lock (of t->heap, which must be this heap).
  bool del_locked(rtimer* t) noexcept {
    GORO_DETAIL_DCHECK(lock.held(), "del_locked: lock not held");
    if (!t->pending()) return false;
    remove_at(table[t->id].pos);
    publish(std::memory_order_seq_cst);
    return true;
  }

  // is_earliest_locked: is t (pending here) the earliest? Requires lock.
  bool is_earliest_locked(const rtimer* t) const noexcept { return t->pending() && table[t->id].pos == 0; }

  // run_due_locked fires every timer due by now, in (when, seq) order; a
  // periodic one is re-armed first (at the next multiple of its period after
  // now: ticks missed are dropped, as in Go; saturated below no_timer, and not
  // re-armed at all if that is not after now, which only a clock that jumped
  // there, the deterministic one, can reach). Returns how many fired.
  // Requires lock; f runs with it held.
  std::size_t run_due_locked(std::int64_t now);

  std::size_t size_locked() const noexcept { return heap.size(); }

 private:
  // remove_at takes the slot at i out of the heap; its timer is no longer
  // pending. Does not publish.
  void remove_at(std::size_t i) noexcept {
    slot gone = heap[i];
    gone.t->id = rtimer::not_pending;
    free_ids.push_back(gone.id);  // never allocates: at most table.size() ids, reserved in add_locked
    std::size_t last = heap.size() - 1;
    if (i != last) {
      slot moved = heap[last];
      heap.pop_back();
      place(i, moved);
      if (up(i) == i) down(i);
    } else {
      heap.pop_back();
    }
  }

  static bool less(const slot& a, const slot& b) noexcept { return a.when != b.when ? a.when < b.when : a.seq < b.seq; }
  void place(std::size_t i, const slot& x) noexcept {
    heap[i] = x;
    table[x.id].pos = i;
  }
  // up / down sift the slot at i; up returns where it ends.
  std::size_t up(std::size_t i) noexcept {
    slot x = heap[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / arity;
      if (!less(x, heap[parent])) break;
      place(i, heap[parent]);
      i = parent;
    }
    place(i, x);
    return i;
  }
  void down(std::size_t i) noexcept {
    std::size_t n = heap.size();
    slot x = heap[i];
    for (;;) {
      std::size_t c = i * arity + 1;
      if (c >= n) break;
      std::size_t best = c;
      std::size_t end = c + arity < n ? c + arity : n;
      for (std::size_t k = c + 1; k < end; ++k)
        if (less(heap[k], heap[best])) best = k;
      if (!less(heap[best], x)) break;
      place(i, heap[best]);
      i = best;
    }
    place(i, x);
  }
  void publish(std::memory_order mo) noexcept {
    std::int64_t w = heap.empty() ? no_timer : heap.front().when;
    if (next.load(std::memory_order_relaxed) != w) next.store(w, mo);
  }
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED std::size_t timer_heap::run_due_locked(std::int64_t now) {
  GORO_DETAIL_DCHECK(lock.held(), "run_due_locked: lock not held");
  std::size_t fired = 0;
  while (!heap.empty() && heap.front().when <= now) {
    rtimer* t = heap.front().t;
    std::int64_t step = 0, next = 0;
    if (t->period > 0 && (__builtin_mul_overflow(t->period, 1 + (now - t->when) / t->period, &step) ||
                          __builtin_add_overflow(t->when, step, &next) || next >= no_timer))
      next = no_timer - 1;
    if (t->period > 0 && next > now) {
      t->when = next;
      t->seq = seq++;
      heap.front().when = t->when;
      heap.front().seq = t->seq;
      down(0);
    } else {
      remove_at(0);
    }
    // The next due timer will be read right after f: start fetching it.
    if (!heap.empty() && heap.front().when <= now) __builtin_prefetch(heap.front().t);
    t->f(t, now);
    ++fired;
  }
  if (fired != 0) publish(std::memory_order_release);  // once per batch: a fence per timer showed in profiles
  return fired;
}
#endif  // GORO_DETAIL_DEFINE_COMPILED

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TIMERS_HPP
