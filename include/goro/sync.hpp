// goro/sync.hpp — Go's sync package on goro's semaphores: wait_group (this
// issue), mutex, shared_mutex, condition_variable and call_once (channels
// issue). Follows Go's sync/waitgroup.go.
#ifndef GORO_DETAIL_SYNC_HPP
#define GORO_DETAIL_SYNC_HPP

#include "config.hpp"
#include "sched.hpp"
#include "sema.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

// wait_group: Go's sync.WaitGroup. The state word packs the counter (high 32
// bits, signed) and the number of waiters (low 32 bits), so that add can tell
// with one load whether the counter reached zero with waiters to release.
// Invariant: waiters are only added while the counter is > 0; when it reaches
// 0, the adder that took it there resets the word to 0 and releases exactly
// that many waiters on sema_.
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // add adds n (possibly negative) to the counter; at zero it releases every
  // waiter. Throws std::logic_error, and changes nothing, if the counter would
  // go negative.
  void add(std::ptrdiff_t n) { add_impl(n, "goro::wait_group::add: negative counter"); }

  // done is add(-1); throws std::logic_error if the counter is already 0.
  void done() { add_impl(-1, "goro::wait_group::done: counter is already 0"); }

  // wait blocks until the counter is 0.
  void wait() {
    std::uint64_t st = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((st >> 32) == 0) return;
      // seq_cst: the waiter count is published before we check the semaphore.
      if (state_.compare_exchange_weak(st, st + 1, std::memory_order_seq_cst, std::memory_order_acquire)) {
        detail::semacquire(&sema_, detail::wait_reason::sync_waitgroup_wait);
        return;
      }
    }
  }

  // go runs f(args...) in a new goroutine, with add(1) before and done() after
  // it returns or unwinds (Go 1.25's WaitGroup.Go).
  template <class F>
  void go(F&& f, detail::source_loc site = detail::source_loc::here()) {
    spawn(detail::closure<F>{std::forward<F>(f), {}}, site);
  }
  template <class F, class A1>
  void go(F&& f, A1&& a1, detail::source_loc site = detail::source_loc::here()) {
    spawn(detail::closure<F, A1>{std::forward<F>(f), {std::forward<A1>(a1)}}, site);
  }
  template <class F, class A1, class A2>
  void go(F&& f, A1&& a1, A2&& a2, detail::source_loc site = detail::source_loc::here()) {
    spawn(detail::closure<F, A1, A2>{std::forward<F>(f), {std::forward<A1>(a1), std::forward<A2>(a2)}}, site);
  }
  template <class F, class A1, class A2, class A3>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, detail::source_loc site = detail::source_loc::here()) {
    spawn(detail::closure<F, A1, A2, A3>{std::forward<F>(f), {std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3)}},
          site);
  }

 private:
  void add_impl(std::ptrdiff_t n, const char* negative_msg) {
    std::uint64_t st = state_.load(std::memory_order_relaxed);
    std::int64_t v;
    std::uint32_t w;
    for (;;) {
      v = static_cast<std::int32_t>(st >> 32) + static_cast<std::int64_t>(n);
      w = static_cast<std::uint32_t>(st);
      if (v < 0) throw std::logic_error(negative_msg);
      if (v > INT32_MAX) throw std::logic_error("goro::wait_group::add: counter overflow");
      std::uint64_t next = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(v)) << 32) | w;
      // acq_rel: done() releases the work before it to the waiter (Go's
      // memory model: Done happens before the Wait it unblocks returns).
      if (state_.compare_exchange_weak(st, next, std::memory_order_acq_rel, std::memory_order_relaxed)) break;
    }
    if (v > 0 || w == 0) return;
    // The counter hit 0 with waiters: no add or wait can race with us now
    // (Go: the state is stable), so reset it and release them.
    state_.store(0, std::memory_order_relaxed);
    for (; w > 0; --w) detail::semrelease(&sema_);
  }

  template <class C>
  void spawn(C&& c, detail::source_loc site) {
    struct with_done {
      wait_group* wg;
      std::decay_t<C> body;
      void operator()() {
        struct guard {
          wait_group* wg;
          ~guard() noexcept(false) { wg->done(); }
        } gd{wg};
        body();
      }
    };
    add(1);
    detail::newproc(detail::current_sched(), with_done{this, std::forward<C>(c)}, site);
  }

  std::atomic<std::uint64_t> state_{0};  // counter << 32 | waiters
  std::atomic<std::uint32_t> sema_{0};
};

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SYNC_HPP
