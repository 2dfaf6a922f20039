// goro/timer_wake.hpp — the timer M's wake-up pair (a Dekker pair over two
// words: each P heap's `next`, and `timer_m_until`), as templates over the
// atomic type so that the Relacy model (tests/relacy/timer_m.cpp) checks the
// code the scheduler runs. sched_timers.hpp instantiates them with std::atomic
// (timer_m_publish_until, timer_wake_sleeper, timer_wake_after_del); see
// "Timer M wake-ups" there and in docs/design.md.
//
//   timer M: stores what it sleeps until (seq_cst), then re-reads the earliest
//     timer of every heap (seq_cst loads) and starts over while that changed
//     (timer_m_until_publish).
//   adder / deleter: the heap publishes its new `next` (seq_cst store, under
//     the heap's lock), then, without it, loads until (seq_cst) and decides
//     whether the timer M must be woken (timer_sleeper_after_add / _del).
// Either the timer M's re-read sees the heap's new `next`, or the adder sees
// the timer M's until.
#ifndef GORO_DETAIL_TIMER_WAKE_HPP
#define GORO_DETAIL_TIMER_WAKE_HPP

#include "config.hpp"

#include <atomic>
#include <climits>
#include <cstdint>

// GORO_DETAIL_TIMER_M_RECHECK: a fault injection point for the Relacy model's
// broken variant only (0: the timer M publishes its until without re-reading
// the heaps). Never set it elsewhere.
#ifndef GORO_DETAIL_TIMER_M_RECHECK
#define GORO_DETAIL_TIMER_M_RECHECK 1
#endif

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::int64_t no_sleeper = INT64_MIN;  // timer_m_until when no M sleeps for timers

// timer_m_until_publish: the timer M's half. Publishes `next` (the earliest
// timer it read) as what it sleeps until, then re-reads earliest() (every
// heap's next, seq_cst) until the two agree. Returns what to sleep until. The
// timer M, under sched.lock (which orders it against other timer Ms; adders
// do not take it).
template <class Atomic, class Earliest>
inline std::int64_t timer_m_until_publish(Atomic& until, std::int64_t next, Earliest earliest) {
  for (;;) {
    until.store(next, std::memory_order_seq_cst);
    if (!GORO_DETAIL_TIMER_M_RECHECK) return next;
    std::int64_t again = earliest();
    if (again == next) return next;
    next = again;
  }
}

enum class timer_sleeper {
  none,       // no M sleeps for timers
  covers,     // the timer M wakes at or before the timer anyway
  must_wake,  // the timer M sleeps past it (add) or until it (delete)
};

// timer_sleeper_after_add: a timer at `when` became its heap's earliest and
// the heap published it: must the timer M be woken? mo: seq_cst without
// sched.lock (the adder's half of the pair), relaxed for the re-check under
// it. Any thread, holding no heap lock.
template <class Atomic>
inline timer_sleeper timer_sleeper_after_add(const Atomic& until, std::int64_t when,
                                             std::memory_order mo = std::memory_order_seq_cst) noexcept {
  std::int64_t u = until.load(mo);
  if (u == no_sleeper) return timer_sleeper::none;
  return when < u ? timer_sleeper::must_wake : timer_sleeper::covers;
}

// timer_sleeper_after_del: a heap's earliest timer, at `when`, was deleted
// and the heap published its new next: must the timer M be woken? It must if
// it sleeps until that timer or later (it starts over whether the earliest
// got later or earlier: else it could sleep until a deleted timer). mo as
// above.
template <class Atomic>
inline timer_sleeper timer_sleeper_after_del(const Atomic& until, std::int64_t when,
                                             std::memory_order mo = std::memory_order_seq_cst) noexcept {
  std::int64_t u = until.load(mo);
  if (u == no_sleeper) return timer_sleeper::none;
  return when <= u ? timer_sleeper::must_wake : timer_sleeper::covers;
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TIMER_WAKE_HPP
