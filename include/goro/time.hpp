// goro/time.hpp — the clock and sleeping (Go: time.go). The sleeper heap is
// in sched.hpp for now; the timers issue adds per-P timer heaps, timer,
// ticker and after.
#ifndef GORO_DETAIL_TIME_HPP
#define GORO_DETAIL_TIME_HPP

#include "config.hpp"
#include "sched.hpp"

#include <chrono>
#include <thread>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

using clock = std::chrono::steady_clock;

inline clock::time_point now() { return clock::now(); }

// sleep_for parks the calling goroutine for at least d (Go: time.Sleep). A
// zero or negative d returns at once. On a plain thread it sleeps the thread.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return;
  detail::m* mp = detail::getm();
  if (mp == nullptr || mp->curg == nullptr) {
    std::this_thread::sleep_for(d);
    return;
  }
  constexpr auto max_ns = std::chrono::nanoseconds(INT64_MAX / 2);  // ~146 years: saturate instead of overflowing
  auto ns = d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(std::chrono::hours(24 * 365 * 100))
                ? max_ns
                : std::chrono::ceil<std::chrono::nanoseconds>(d);
  detail::timer_sleep(detail::nanotime() + ns.count());
}

// sleep_until parks the calling goroutine until t (on t's clock).
template <class Clock, class Dur>
void sleep_until(std::chrono::time_point<Clock, Dur> t) {
  sleep_for(t - Clock::now());
}

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TIME_HPP
