// goro/time.hpp — the clock, sleeping, timers and tickers (Go: time.go and
// runtime/time.go). The runtime timer heap (rtimer) is in timers.hpp, the
// scheduler's half of time.go in sched_timers.hpp.
//
// Go 1.23 semantics: timer channels are synchronous. Internally c() has a
// buffer of one, but a value is only put there by a firing, and stop() and
// reset() drain it while holding the lock of the heap the timer was armed in
// (rtimer::heap, never cleared), which a firing also holds: so after either
// returns, no value from the earlier schedule can be received, and a
// fired-but-unreceived value still counts as "active". stop() and reset() of
// one timer are serialized by chan_timer::mu (the timer's owner, in
// timers.hpp's terms): lock order mu -> heap lock -> channel lock.
#ifndef GORO_DETAIL_TIME_HPP
#define GORO_DETAIL_TIME_HPP

#include "chan.hpp"
#include "config.hpp"
#include "park.hpp"
#include "sync.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

// timeout_error: a deadline passed: an I/O deadline (Go:
// os.ErrDeadlineExceeded) or a context's (Go: context.DeadlineExceeded). See
// docs/reference.md, "Errors".
//
// what() is the text given, exactly ("i/o timeout" by default; an operation
// on a conn or listener says which, as Go's net.OpError does: "read tcp
// 127.0.0.1:5000->127.0.0.1:41234: i/o timeout"). bytes_written() is what a
// failing write handed to the kernel before the deadline (0 otherwise), so
// that the caller can resume from there. Copying never throws: the text is
// shared.
struct timeout_error : std::system_error {
  timeout_error() : timeout_error("i/o timeout") {}
  explicit timeout_error(const std::string& what, std::size_t bytes_written = 0)
      : std::system_error(std::make_error_code(std::errc::timed_out)),
        text_(std::make_shared<const std::string>(what)),
        written_(bytes_written) {}
  const char* what() const noexcept override { return text_->c_str(); }
  std::size_t bytes_written() const noexcept { return written_; }

 private:
  std::shared_ptr<const std::string> text_;  // never null
  std::size_t written_;
};

// clock is declared in schedt.hpp (the scheduler's timers use it).
inline clock::time_point now() { return clock::now(); }

namespace detail {

inline clock::time_point time_from_ns(std::int64_t ns) noexcept {
  return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns)));
}

// chan_timer: the state behind timer, ticker and after: an rtimer whose
// firing puts the time on a one-slot channel, if the slot is free (a slow
// receiver misses ticks, as in Go).
struct chan_timer {
  rtimer t;
  rt_mutex mu;  // serializes stop() and reset(); never held across a park
  sched_t* s = nullptr;
  hchan* c = nullptr;  // timer/ticker: owned by their chan<> member; after: weak (see after())

  static void fire(rtimer* t, std::int64_t now) noexcept {
    auto* ct = static_cast<chan_timer*>(t->arg);
    clock::time_point tp = time_from_ns(now);
    try {
      chansend(ct->c, &tp, false);  // never blocks: one slot, and drops the value if it is full
    } catch (const closed_channel&) {
      // Somebody closed c(): nothing to deliver.
    }
  }

  // drain_locked empties the slot; returns whether a value was there.
  // Requires the lock of t.heap.
  bool drain_locked() noexcept {
    std::optional<clock::time_point> v;
    return chanrecv(c, &v, false) == recv_outcome::value;
  }

  // stop: Go 1.23's Timer.Stop: true if the timer was pending or had fired
  // with its value not yet received; afterwards no value arrives.
  bool stop() noexcept {
    rt_lock_guard own(mu);
    bool pending, drained, was_earliest;
    std::int64_t when;
    {
      timer_heap* h = t.heap.load(std::memory_order_relaxed);  // armed at construction
      rt_lock_guard lk(h->lock);
      was_earliest = h->is_earliest_locked(&t);
      when = t.when;
      pending = h->del_locked(&t);
      drained = drain_locked();
    }
    if (pending && was_earliest) timer_wake_after_del(s, when);  // see timer_del
    return pending || drained;
  }

  // reset re-arms at now + ns (period: 0 for timers, ns for tickers; ns from
  // to_ns, so at most max_delay_ns: "never"); returns what stop() would have.
  bool reset(std::int64_t ns, std::int64_t period) {
    rt_lock_guard own(mu);
    bool active;
    {
      timer_heap* h = t.heap.load(std::memory_order_relaxed);  // armed at construction
      rt_lock_guard lk(h->lock);
      active = h->del_locked(&t);
      active = drain_locked() || active;
    }
    // Not pending and drained: nothing can fire it until it is added again,
    // to the caller's heap (another lock: two heap locks are never nested).
    t.when = when_after(ns);
    t.period = period;
    timer_add(s, &t);
    return active;
  }
};

}  // namespace detail

// sleep_for parks the calling goroutine for at least d (Go: time.Sleep). A
// zero or negative d returns at once. On a plain thread it sleeps the thread.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  detail::rt_region rt;
  detail::sched_point();
  if (d <= d.zero()) return;
  if (!detail::on_goroutine()) {
    std::this_thread::sleep_for(d);
    return;
  }
  detail::timer_sleep(detail::when_after(detail::to_ns(d)));
}

// sleep_until parks the calling goroutine until t (on t's clock). It
// saturates: a t far in the past (time_point::min()) returns at once, one far
// ahead (time_point::max()) sleeps "forever". The exact difference t - now is
// computed only when both are within a year of each other, where converting t
// to the common duration cannot overflow; the range check is in doubles.
template <class Clock, class Dur>
void sleep_until(std::chrono::time_point<Clock, Dur> t) {
  using dsec = std::chrono::duration<double>;
  constexpr dsec year{365.0 * 24 * 3600};
  auto now = Clock::now();
  dsec ahead = dsec(t.time_since_epoch()) - dsec(now.time_since_epoch());
  if (ahead < -year) return;
  if (ahead > year) {
    sleep_for(ahead);
    return;
  }
  auto d = t - now;
  if (d <= d.zero()) return;
  sleep_for(d);
}

// timer: Go's time.Timer with Go 1.23 semantics (see the file comment). The
// timer is stopped when the object is destroyed. Durations are templates and
// saturate as sleep_for's do: hours::max() never fires (docs/reference.md,
// "Duration parameters").
class timer {
 public:
  template <class Rep, class Period>
  explicit timer(std::chrono::duration<Rep, Period> d) : ch_(1) {
    detail::rt_region rt;
    detail::sched_point();
    st_->s = detail::current_sched();
    st_->c = detail::chan_ptr(ch_);
    st_->t.arg = st_.get();
    st_->t.f = &detail::chan_timer::fire;
    st_->t.when = detail::when_after(detail::to_ns(d));
    detail::timer_add(st_->s, &st_->t);
  }
  ~timer() {
    if (st_) detail::timer_del(st_->s, &st_->t);
  }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  // c: the channel the time is delivered on, once.
  chan<clock::time_point>& c() noexcept { return ch_; }

  // stop prevents the timer from firing; true if it was active (pending, or
  // fired with the value not received yet).
  bool stop() {
    detail::rt_region rt;
    detail::sched_point();
    return st_->stop();
  }

  // reset re-arms the timer to fire d from now; returns what stop would have.
  template <class Rep, class Period>
  bool reset(std::chrono::duration<Rep, Period> d) {
    detail::rt_region rt;
    detail::sched_point();
    return st_->reset(detail::to_ns(d), 0);
  }

 private:
  chan<clock::time_point> ch_;
  std::unique_ptr<detail::chan_timer> st_ = std::make_unique<detail::chan_timer>();
};

// ticker: Go's time.Ticker: delivers the time every d (a slow receiver misses
// ticks). d must be positive (std::invalid_argument otherwise, Go panics); a d
// that saturates (hours::max()) never ticks.
class ticker {
 public:
  template <class Rep, class Period>
  explicit ticker(std::chrono::duration<Rep, Period> d) : ch_(1) {
    detail::rt_region rt;
    detail::sched_point();
    std::int64_t ns = detail::to_ns(d);
    if (ns <= 0) throw std::invalid_argument("goro::ticker: non-positive interval");
    st_->s = detail::current_sched();
    st_->c = detail::chan_ptr(ch_);
    st_->t.arg = st_.get();
    st_->t.f = &detail::chan_timer::fire;
    st_->t.when = detail::when_after(ns);
    st_->t.period = ns;
    detail::timer_add(st_->s, &st_->t);
  }
  ~ticker() {
    if (st_) detail::timer_del(st_->s, &st_->t);
  }
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;

  chan<clock::time_point>& c() noexcept { return ch_; }
  void stop() {
    detail::rt_region rt;
    detail::sched_point();
    st_->stop();
  }
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> d) {
    detail::rt_region rt;
    detail::sched_point();
    std::int64_t ns = detail::to_ns(d);
    if (ns <= 0) throw std::invalid_argument("goro::ticker: non-positive interval");
    st_->reset(ns, ns);
  }

 private:
  chan<clock::time_point> ch_;
  std::unique_ptr<detail::chan_timer> st_ = std::make_unique<detail::chan_timer>();
};

// after: Go's time.After: a channel that receives the time once, d from now.
// The timer belongs to the channel: when the last handle goes, the channel's
// on_destroy hook cancels it (so `select` loops with after() do not leak).
template <class Rep, class Period>
chan<clock::time_point> after(std::chrono::duration<Rep, Period> d) {
  detail::rt_region rt;
  detail::sched_point();
  chan<clock::time_point> ch(1);
  detail::hchan* c = detail::chan_ptr(ch);
  auto* st = new detail::chan_timer();
  st->s = detail::current_sched();
  st->c = c;  // weak: the firing runs under its heap's lock, which on_destroy's timer_del takes before the channel is freed
  st->t.arg = st;
  st->t.f = &detail::chan_timer::fire;
  st->t.when = detail::when_after(detail::to_ns(d));
  c->on_destroy_arg = st;
  c->on_destroy = [](detail::hchan* h) noexcept {
    auto* ct = static_cast<detail::chan_timer*>(h->on_destroy_arg);
    detail::timer_del(ct->s, &ct->t);
    delete ct;
  };
  detail::timer_add(st->s, &st->t);
  return ch;
}

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TIME_HPP
