// goro/blocking.hpp — blocking system calls: blocking<> and block() (Go:
// entersyscall / exitsyscall in proc.go).
//
// Inside the guard the goroutine's M may block in the kernel while the other
// goroutines keep running:
//   handoff_lazy (entersyscall): the M gives up its P logically (m.pp = null,
//     m.oldp = the P, P status syscall). If the call returns quickly the M
//     takes the P back with one CAS (syscall -> running). If it lasts a whole
//     sysmon round (>= 20 us) and the P has work (or no other M could pick
//     work up: none spins and no P is idle), sysmon CASes syscall -> idle
//     and hands the P to another M (sysmon.hpp, retake).
//   handoff_now (entersyscallblock): the P goes to another M (or the idle
//     list) at once.
// On exit (exitsyscall): the old P if it is still free, else an idle P, else
// the goroutine goes to the global run queue and its M joins the idle pool.
// While in the guard the goroutine has no P: go() and ready() use the global
// queue, yield() yields the thread, and a call that would park throws
// std::logic_error (throw_if_blocking).
#ifndef GORO_DETAIL_BLOCKING_HPP
#define GORO_DETAIL_BLOCKING_HPP

#include "config.hpp"
#include "park.hpp"
#include "sched.hpp"
#include "sysmon.hpp"

#include <functional>
#include <type_traits>
#include <utility>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

struct handoff_lazy {};
struct handoff_now {};

namespace detail {

// entersyscall: see the file comment. The calling goroutine, on its M.
inline void entersyscall(bool now) {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) return;  // a plain thread: nothing to hand off
  g* gp = mp->curg;
  if (gp->in_blocking++ != 0) return;  // nested guard: already in
  if constexpr (deterministic) return;  // one thread runs everything: there is no other M to hand the P to
  p* pp = mp->pp;
  sched_t* s = mp->sched;
  if (GORO_DETAIL_UNLIKELY(pp->trace != nullptr)) {  // the slice ends while this M still owns pp's ring
    trace_go_stop(pp, gp);
    mp->trace_blocking_start = s->trace->now();
  }
  set_gstatus(gp, gstatus::running, gstatus::syscall, "entersyscall: the goroutine is not running");
  mp->oldp = pp;
  mp->pp = nullptr;
  pp->mp.store(nullptr, std::memory_order_relaxed);
  pp->syscalltick.store(pp->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (now) {
    pp->status.store(p_idle, std::memory_order_release);
    handoffp(s, pp);
  } else {
    // release: publishes this P's state to whoever retakes it.
    pp->status.store(p_syscall, std::memory_order_release);
    sysmon_kick(s);
  }
}

// exitsyscall: see the file comment. Never throws; may switch away (and
// resume later on another M) when no P is free.
inline void exitsyscall() {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) return;
  g* gp = mp->curg;
  if (--gp->in_blocking != 0) return;
  if constexpr (deterministic) return;
  sched_t* s = mp->sched;
  p* pp = mp->oldp;
  mp->oldp = nullptr;
  std::uint32_t expect = p_syscall;
  if (pp != nullptr && pp->status.compare_exchange_strong(expect, p_running, std::memory_order_acq_rel)) {
    acquirep(mp, pp);  // fast path: nobody took it
  } else {
    p* idle;
    {
      rt_lock_guard lk(s->lock);
      idle = pidleget_locked(s);
    }
    if (idle == nullptr) {
      // No P: wait on the global queue; this M goes idle (mstart's loop).
      if (GORO_DETAIL_UNLIKELY(tracing(s))) trace_blocking_end(s, nullptr, mp, gp, mp->trace_blocking_start);
      mp->pending = pending_op{pending_kind::exitsyscall, gp, nullptr, nullptr};
      mp->curg = nullptr;
      gogo(mp, gp, &mp->g0);
      gp->status.store(gstatus::running, std::memory_order_relaxed);
      return;
    }
    acquirep(mp, idle);
  }
  pp = mp->pp;
  pp->syscalltick.store(pp->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (GORO_DETAIL_UNLIKELY(pp->trace != nullptr)) {
    trace_blocking_end(s, pp, mp, gp, mp->trace_blocking_start);
    trace_go_start(pp, gp);  // a new slice on the P it got
  }
  set_gstatus(gp, gstatus::syscall, gstatus::running, "exitsyscall: the goroutine is not in a system call");
}

}  // namespace detail

// blocking<Policy>: an RAII guard around a call that blocks its OS thread in
// the kernel or in a foreign library. See the file comment and docs/reference.md,
// "Blocking system calls". On a
// plain OS thread (and in deterministic mode) it does nothing.
template <class Policy = handoff_lazy>
class blocking {
  static_assert(std::is_same_v<Policy, handoff_lazy> || std::is_same_v<Policy, handoff_now>,
                "goro::blocking<Policy>: Policy is goro::handoff_lazy or goro::handoff_now");

 public:
  blocking() { detail::entersyscall(std::is_same_v<Policy, handoff_now>); }
  ~blocking() { detail::exitsyscall(); }
  blocking(const blocking&) = delete;
  blocking& operator=(const blocking&) = delete;
  blocking(blocking&&) = delete;
  blocking& operator=(blocking&&) = delete;
};

// block runs f inside blocking<> (handoff_lazy) and returns its result.
template <class F>
auto block(F&& f) -> std::invoke_result_t<F> {
  blocking<> guard;
  return std::invoke(std::forward<F>(f));
}

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_BLOCKING_HPP
