// goro/park.hpp — the park/ready seam: everything channels, select, sema,
// sync, time, the netpoller and net call to block and wake goroutines. They
// include this file, not the scheduler, and reach it only through the
// functions below (and the timer functions of sched_timers.hpp: timer_add,
// timer_del, timer_home, timer_added, timer_wake_sleeper,
// timer_wake_after_del, all_timer_heaps). Above the seam a runtime is an
// opaque sched_t* (g::sched, current_sched()): it may be stored and handed
// back to these functions, never dereferenced. `tools/lint` checks that no
// file above the seam names a scheduler internal.
//
// The contract (both schedulers implement it; the deterministic one through
// the hooks of det_hooks.hpp):
//   park(why, unlock, arg, opts)  block the caller until ready(); unlock runs
//                                 after the switch away (see "Parking")
//   ready(gp)                     make a parked G runnable; any M or thread
//   safe_point()                  the preemption point of goro calls that may
//                                 switch (go, channel operations, select)
//   sched_point(may_unwind)       a scheduling point of deterministic mode
//   wake_point()                  deterministic mode's point after an operation
//                                 that readied another goroutine
//   race_acquire / race_release   happens-before edges for the race detector
//   cheaprand()                   a random number the seed decides in
//                                 deterministic mode (select's poll order)
//   timer_sleep(when)             park until nanotime() reaches when
//   spawn / go_at                 newproc on the caller's runtime
// plus the checks blocking calls make first (in_blocking, throw_if_blocking,
// unwind_point), the shape of every public sync operation (sync_acquire,
// sync_try_acquire, sync_release), the mutex spin policy (sync_can_spin,
// sync_spin), the caller's identity (on_goroutine), and the netpoller's
// accounting (netpoll_of, netpoll_waiter_added, netpoll_waiter_removed,
// netpoll_kick).
//
// ---------------------------------------------------------------------------
// Parking (Go: gopark / park_m).
//
// A goroutine cannot make itself visible to a waker while it still runs on its
// stack: a waker on another M could resume it on a second stack pointer. So a
// G that leaves (park, yield, exit) records what must happen in m.pending and
// switches away; the context that arrives on the same M (the next G, or g0)
// finishes it before doing anything else:
//   park: status = waiting; unlock(g, arg) (typically releasing the lock of the
//         object whose queue holds g's wait record); from then on a waker may
//         take the record and ready(g). If unlock returns false the park is
//         called off and g is runnable again at once.
//   yield: g goes to the tail of the local run queue.
//   exit: g (and its stack) go back to the g cache.
// A stack is therefore freed only after the last switch away from it.
#ifndef GORO_DETAIL_PARK_HPP
#define GORO_DETAIL_PARK_HPP

#include "config.hpp"
#include "det_hooks.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "sched.hpp"
#include "sched_timers.hpp"
#include "schedt.hpp"
#include "tls.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <stdexcept>
#include <thread>
#include <utility>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// ---------------------------------------------------------------------------
// park and ready.

// ready makes gp runnable: on the current P if the caller is an M of gp's
// runtime, else on the global queue; then wakes an M if one is needed.
// Any M or plain thread (Go: ready). A caller that is not an M of gp's
// runtime still uses s in wakep after gp is queued, when gp may already have
// run and its run() may be tearing s down: it is counted in
// s->foreign_readies meanwhile, and ~sched_t waits for the count to drop to 0.
inline void ready(g* gp) {
  if (gp->is_thread) {
    gp->thread_note.wakeup();
    return;
  }
  sched_t* s = gp->sched;
  // published by the queue's release
  set_gstatus(gp, gstatus::waiting, gstatus::runnable, "ready: the goroutine is not waiting (readied twice, or never parked)");
  if constexpr (deterministic) {
    if (GORO_DETAIL_UNLIKELY(tracing(s))) {
      m* mp = getm();
      p* pp = (mp != nullptr && mp->sched == s) ? mp->pp : nullptr;
      trace_go_unblock(s, pp, pp != nullptr ? mp->curg : nullptr, gp);
    }
    det_ready(s, gp);
    return;
  }
  m* mp = getm();
  if (mp != nullptr && mp->sched == s && mp->pp != nullptr) {
    if (GORO_DETAIL_UNLIKELY(mp->pp->trace != nullptr)) trace_go_unblock(s, mp->pp, mp->curg, gp);
    runqput(s, mp->pp, gp, true);
    wakep(s, true);
    return;
  }
  // Relaxed: the increment reaches run() through the queue (s->lock), gp's
  // run and its exit, all before ~sched_t reads the count.
  s->foreign_readies.fetch_add(1, std::memory_order_relaxed);
  if (GORO_DETAIL_UNLIKELY(tracing(s))) trace_go_unblock(s, nullptr, nullptr, gp);
  {
    rt_lock_guard lk(s->lock);
    globrunqput_locked(s, gp);
  }
  wakep(s);
  s->foreign_readies.fetch_sub(1, std::memory_order_release);  // the last use of s
}

// park_opts: the optional parts of a park.
struct park_opts {
  cancel_fn cancel = nullptr;  // see "Unwinding at shutdown" (run.hpp); nullptr: cannot be unwound while parked
  void* cancel_arg = nullptr;
  const void* wait_obj = nullptr;  // what it waits on, for dumps: the object describe is given
  describe_fn describe = nullptr;  // nullptr: the dump gives only the wait reason
};

// wait_desc: park_opts' wait_obj and describe, for the operations that park
// through another layer (semacquire).
struct wait_desc {
  const void* obj = nullptr;
  describe_fn describe = nullptr;
};

// park_capture: where a goroutine parks, when tracebacks are wanted.
// Threaded mode with tracebacks on: captured into tb (park's frame, alive
// while it is parked) before it parks. Deterministic mode: in report mode,
// after its switch returns (see "Report mode" in det.hpp). Costs nothing
// else: one predictable branch on a flag.
GORO_DETAIL_NOINLINE inline void park_capture(g* gp, traceback& tb) noexcept {
  capture_traceback(tb, 1);  // 1: park_capture's caller, park
  gp->park_tb.store(&tb, std::memory_order_relaxed);
}

// exit_swallowed: has the calling goroutine, which has thrown goroutine_exit,
// swallowed it? True when no exception is in flight on its stack (a park in a
// destructor run by the unwinding must not throw: std::terminate) and the
// exception it is handling, if any, is not goroutine_exit (`catch (...) {
// wg.wait(); throw; }`). The C++ exception state is per goroutine (gogo swaps
// it), so this reads the caller's own. Shutdown only (it rethrows to look).
inline bool exit_swallowed() noexcept {
  if (std::uncaught_exceptions() != 0) return false;
  std::exception_ptr e = std::current_exception();
  if (!e) return true;
  try {
    std::rethrow_exception(e);
  } catch (const goroutine_exit&) {
    return false;
  } catch (...) {
  }
  return true;
}

// park blocks the calling goroutine until ready(gp) (Go: gopark). unlock runs
// after the switch away (see "Parking"); a waker can find the G only after it.
// Throws goroutine_exit when the shutdown unwinder cancelled this wait. On a
// plain OS thread it sleeps the thread instead.
inline void park(wait_reason why, unlock_fn unlock, void* arg, const park_opts& opts = {}) {
  m* mp = getm();
  g* gp = (mp != nullptr && mp->curg != nullptr) ? mp->curg : thread_g();
  gp->why.store(why, std::memory_order_relaxed);
  gp->cancel = opts.cancel;
  gp->cancel_arg = opts.cancel_arg;
  gp->wait_obj.store(opts.wait_obj, std::memory_order_relaxed);
  gp->wait_describe.store(opts.describe, std::memory_order_relaxed);
  if (gp->is_thread) {
    gp->thread_note.clear();
    plain_threads_in_goro.fetch_add(1, std::memory_order_seq_cst);
    if (unlock == nullptr || unlock(gp, arg)) gp->thread_note.sleep();
    plain_threads_in_goro.fetch_sub(1, std::memory_order_seq_cst);
    gp->why.store(wait_reason::none, std::memory_order_relaxed);
    return;
  }
  gp->wait_since.store(gp->sched->coarse_now.load(std::memory_order_relaxed), std::memory_order_relaxed);
  // A G that swallowed goroutine_exit: this wait may be cancelled again (the
  // park op's exiting check does it). Decided here, on the G's own exception
  // state; the caller holds the object's lock, so it cannot throw yet.
  bool again = false;
  if (GORO_DETAIL_UNLIKELY(gp->unwind.load(std::memory_order_relaxed) == unwind_thrown) && opts.cancel != nullptr &&
      exit_swallowed()) {
    gp->unwind.store(unwind_again, std::memory_order_relaxed);
    again = true;
  }
  if (opts.cancel != nullptr) gp->parkstate.store(park_arming, std::memory_order_relaxed);
  if (GORO_DETAIL_UNLIKELY(mp->pp->trace != nullptr)) trace_go_block(mp->pp, gp, why);
  traceback tb;  // see park_capture
  if constexpr (!deterministic) {
    if (GORO_DETAIL_UNLIKELY(tracebacks_on.load(std::memory_order_relaxed))) park_capture(gp, tb);
  }
  mp->pending = pending_op{pending_kind::park, gp, unlock, arg};
  schedule(mp, gp);
  if constexpr (deterministic) {
    // Report mode (det.hpp): resumed only to capture where it waits.
    while (GORO_DETAIL_UNLIKELY(det_reporting(gp))) {
      park_capture(gp, tb);
      det_report_return(gp);
    }
  }
  if (opts.cancel != nullptr) {
    light_fence();  // see "Claiming a parked G"
    for (std::uint8_t ps = gp->parkstate.load(std::memory_order_acquire); GORO_DETAIL_UNLIKELY(ps == park_arming || ps == park_claimed);
         ps = gp->parkstate.load(std::memory_order_acquire))
      cpu_relax();
    gp->parkstate.store(park_none, std::memory_order_relaxed);
  }
  gp->why.store(wait_reason::none, std::memory_order_relaxed);
  std::uint8_t u = gp->unwind.load(std::memory_order_relaxed);
  if (GORO_DETAIL_UNLIKELY(u != unwind_live && u != unwind_done)) {
    if (u == unwind_cancelled) {  // the first goroutine_exit, or again after a swallowed one
      if (again) gp->exit_again.fetch_add(1, std::memory_order_relaxed);
      gp->unwind.store(unwind_thrown, std::memory_order_relaxed);
      throw goroutine_exit{};
    }
    gp->unwind.store(unwind_thrown, std::memory_order_relaxed);  // unwind_again: a waker completed the wait first
  }
}

// ---------------------------------------------------------------------------
// Who holds what (docs/design.md, "Where each goroutine waits").

// current_goid: the calling goroutine's id, or 0 on a plain thread or g0.
// Reads the M from TLS inline: the value is used at once, never across a
// switch (so the "TLS caching" hazard of getm does not arise); the id of a
// goroutine never changes. The mutexes' holder field (lock's fast path).
inline std::uint64_t current_goid() noexcept {
  m* mp = __atomic_load_n(&tls_m, __ATOMIC_RELAXED);
  if (mp == nullptr || mp->curg == nullptr) return 0;
  return mp->curg->id;
}

// lock_sites_on: are lock sites recorded (held_push)? Deterministic mode:
// in every run but explore's search runs (det_input::lock_sites); threaded
// mode: with tracebacks on.
inline bool lock_sites_on() noexcept {
  if constexpr (deterministic) return det_lock_sites();
  return tracebacks_on.load(std::memory_order_relaxed);
}

// held_push: the calling goroutine now holds mu, locked here (its stack is
// captured). held_pop: it released mu. The calling goroutine only; nothing
// on plain threads. Allocation failure just loses the record.
GORO_DETAIL_NOINLINE inline void held_push(const void* mu) noexcept {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) return;
  g* gp = mp->curg;
  if (gp->held == nullptr) {
    gp->held = new (std::nothrow) held_locks;
    if (gp->held == nullptr) return;
  }
  held_locks& h = *gp->held;
  if (h.n == held_locks::max) return;
  held_locks::entry& e = h.e[h.n];
  traceback tb;
  capture_traceback(tb, 1);  // 1: held_push itself
  e.n = static_cast<std::uint32_t>(std::min<std::size_t>(tb.n, held_locks::depth));
  std::copy(tb.pc, tb.pc + e.n, e.pc);
  e.mu = mu;
  ++h.n;
}

GORO_DETAIL_NOINLINE inline void held_pop(const void* mu) noexcept {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr || mp->curg->held == nullptr) return;
  held_locks& h = *mp->curg->held;
  for (std::size_t i = h.n; i-- > 0;)
    if (h.e[i].mu == mu) {
      std::copy(h.e + i + 1, h.e + h.n, h.e + i);
      --h.n;
      return;
    }
}

// append_lock_site: ", locked at <file>:<line> (<function>)" for mutex mu
// held by goroutine holder, when the dump's ctx knows it and its lock site
// was recorded. Dumps only.
inline void append_lock_site(std::string& out, std::uint64_t holder, const void* mu, const dump_ctx* ctx) {
  if (ctx == nullptr || holder == 0) return;
  const g* hg = ctx->by_id(holder);
  if (hg == nullptr || hg->held == nullptr) return;
  const held_locks& h = *hg->held;
  for (std::size_t i = 0; i < h.n && i < held_locks::max; ++i) {
    if (h.e[i].mu != mu) continue;
    traceback tb;
    tb.n = h.e[i].n;
    std::copy(h.e[i].pc, h.e[i].pc + tb.n, tb.pc);
    out += ", locked at ";
    format_location(out, tb);
    return;
  }
}

// append_addr: " 0x..." (an object's address, in descriptions).
inline void append_addr(std::string& out, const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, " %p", p);
  out += buf;
}

// sync_can_spin: may a goroutine spinning for a mutex (iteration iter) hope
// that the holder, running on another P, releases it soon? (Go:
// sync_runtime_canSpin: a few rounds, a multicore machine, another P running,
// and nothing waiting in our own run queue.) Any goroutine; false on threads.
// ncpu: the number of CPUs, read once. glibc's get_nprocs (under
// std::thread::hardware_concurrency) opens and reads
// /sys/devices/system/cpu/online on every call: microseconds that
// sync_can_spin used to pay on each spin of a contended mutex.
inline unsigned ncpu() noexcept {
  static const unsigned n = std::thread::hardware_concurrency();
  return n;
}

inline bool sync_can_spin(int iter) noexcept {
  if (iter >= 4) return false;
  m* mp = getm();
  if (mp == nullptr || mp->pp == nullptr) return false;
  sched_t* s = mp->sched;
  if (ncpu() <= 1) return false;
  if (static_cast<std::int32_t>(s->allp.size()) <= s->npidle.load(std::memory_order_relaxed) + s->nmspinning.load(std::memory_order_relaxed) + 1)
    return false;
  return mp->pp->runq.empty();
}

// sync_spin: Go's procyield(30).
inline void sync_spin() noexcept {
  for (int i = 0; i < 30; ++i) cpu_relax();
}

// sync_fatal: a misuse Go reports with fatal (unlock of an unlocked mutex):
// ends the process with Go's text (the deterministic scheduler fails the run
// instead, as a panic_error).
[[noreturn]] inline void sync_fatal(const char* msg) noexcept {
  if constexpr (deterministic) det_fatal(msg);
  else fatal(msg);
}

// unwind_point throws goroutine_exit if the runtime is unwinding and this G has
// not been unwound yet, or has swallowed goroutine_exit: yield's check
// (docs/reference.md, "Runtime": a goroutine is unwound at its next blocking
// call or yield()).
inline void unwind_point(g* gp) {
  if (GORO_DETAIL_LIKELY(!gp->sched->exiting.load(std::memory_order_relaxed))) return;
  std::uint8_t u = gp->unwind.load(std::memory_order_relaxed);
  if (u == unwind_live || (u == unwind_thrown && exit_swallowed())) {
    if (u == unwind_thrown) gp->exit_again.fetch_add(1, std::memory_order_relaxed);
    gp->unwind.store(unwind_thrown, std::memory_order_relaxed);
    throw goroutine_exit{};
  }
}

// ---------------------------------------------------------------------------
// Safe points and scheduling points.

// in_blocking: is the caller a goroutine inside blocking<>?
inline bool in_blocking() noexcept {
  m* mp = getm();
  return mp != nullptr && mp->curg != nullptr && mp->curg->in_blocking != 0;
}

// throw_if_blocking: a goro call about to park inside blocking<> throws
// std::logic_error (docs/reference.md, "Blocking system calls"): the guard is
// for kernel and foreign calls only.
// Called before any lock is taken for the park.
inline void throw_if_blocking() {
  if (GORO_DETAIL_UNLIKELY(in_blocking()))
    throw std::logic_error("goro::blocking: a goro call that parks (channel, lock, sleep, I/O wait) inside a blocking<> guard");
}

// preempt_yield: safe_point's rare path, out of line: safe_point is inlined
// into every channel operation, and this path would crowd the inliner out of
// them.
GORO_DETAIL_NOINLINE inline void preempt_yield(m* mp) {
  g* gp = mp->curg;
  if (gp == nullptr || gp->in_blocking != 0 || mp->lockedg != nullptr) return;
  mp->pp->preempt.store(false, std::memory_order_relaxed);
  unwind_point(gp);
  mp->pending = pending_op{pending_kind::yield, gp, nullptr, nullptr};
  schedule(mp, gp);
}

// safe_point: the cooperative preemption point (Go's async preemption is
// signal-based; goro's is not: docs/design.md, "A goroutine's life"). sysmon marks a P whose G ran
// over 10 ms; that G yields at its next goro call that reaches here (go(), a
// channel operation, select). This M only.
inline void safe_point() {
  if constexpr (deterministic) {
    det_point(true);
    return;
  }
  m* mp = getm();
  if (GORO_DETAIL_LIKELY(mp == nullptr || mp->pp == nullptr || !mp->pp->preempt.load(std::memory_order_relaxed))) return;
  preempt_yield(mp);
}

// sched_point: a scheduling point of deterministic mode (docs/reference.md,
// "Deterministic mode" lists them:
// the sync operations, timer operations, sim::point ...); nothing in threaded
// mode, where the channel operations' safe_point is the preemption point.
// may_unwind = false for operations that may run in destructors (unlock,
// done, notify): they never throw goroutine_exit.
inline void sched_point(bool may_unwind = true) {
  if constexpr (deterministic) det_point(may_unwind);
}

// wake_point: deterministic mode's scheduling point at the end of an
// operation that may ready another goroutine (a channel operation, select,
// close, unlock, notify, done, a semaphore's release, a context's cancel): if
// the caller readied one since its last scheduling point, the seed may now run
// that one (or any other) before the caller's next statement, as another P
// would on a real machine. Never throws goroutine_exit (these operations run
// in destructors). Nothing in threaded mode.
inline void wake_point() {
  if constexpr (deterministic) det_wake_point();
}

// race_acquire / race_release: the happens-before edges of Go's memory model
// at goro's sync operations (Go: raceacquire / racerelease), for the
// deterministic mode's race detector (sim::shared); nothing in threaded mode,
// where the sync objects' own atomics carry the edges.
inline void race_acquire(const void* obj) noexcept {
  if constexpr (deterministic) {
    det_race_acquire(obj);
    if (obj != nullptr) san_edge(obj, false);
  }
}
inline void race_release(const void* obj) noexcept {
  if constexpr (deterministic) {
    det_race_release(obj);
    if (obj != nullptr) san_edge(obj, true);
  }
}

// sync_acquire / sync_try_acquire / sync_release: the shape of every public
// sync operation (mutex, shared_mutex, wait_group, condition_variable):
// deterministic mode's scheduling point, the operation, and the race
// detector's happens-before edges on the object's address(es): after an
// acquiring operation returns, before a releasing one starts. An acquiring
// operation may be unwound at its point; a try or a release, which may run in
// destructors, never is. In threaded mode all but op() compiles to nothing.
template <class Op, class... Obj>
void sync_acquire(Op&& op, const Obj*... objs) {
  rt_region rt;
  sched_point();
  op();
  (race_acquire(objs), ...);
}
template <class Op, class... Obj>
bool sync_try_acquire(Op&& op, const Obj*... objs) {
  rt_region rt;
  sched_point(false);
  bool ok = op();
  if (ok) (race_acquire(objs), ...);
  return ok;
}
template <bool wake = true, class Op>
void sync_release(const void* obj, Op&& op) {
  rt_region rt;
  sched_point(false);
  race_release(obj);
  op();
  if constexpr (wake) wake_point();
}

// unwind_cancellable: may the unwinder cancel parked gp's wait? Once: not yet
// unwound, or parked after swallowing goroutine_exit (see park).
inline bool unwind_cancellable(const g* gp) noexcept {
  std::uint8_t u = gp->unwind.load(std::memory_order_relaxed);
  return u == unwind_live || u == unwind_again;
}

// ---------------------------------------------------------------------------
// Claiming a parked G (shutdown only: cancellation of a park).
//
// The unwinder finds parked Gs by walking every stack slot, so what it reads
// may be stale: the G may be leaving its park right now, and then the object
// its wait record names may be destroyed, or the slot may hold another G
// already. try_cancel_park therefore reads nothing of the G but parkstate
// until it has claimed the park (parkstate: cancellable -> claimed; the
// acquire pairs with the park op's release store of cancellable, made after
// the G's fields were written), then, after a heavy fence, checks that the G
// is still waiting. The G, on leaving park(), does light_fence and waits while
// its parkstate is arming or claimed. Either the G's "running" status (stored
// before its light fence by the M that resumed it) is visible after the heavy
// fence, or the G sees the claim and waits: the G never leaves park while its
// record is being cancelled.
// parkstate's life in one cancellable park: the G stores arming before its
// switch; the park op (run_pending), after the unlock step, stores
// cancellable; a claim moves it to claimed and back (to cancellable if the
// wait was not cancelled, to released if it was); the G, leaving, stores
// none. While it is arming the M completing the park still uses the slot, so
// the G cannot leave (and the slot cannot be recycled) under it. Any thread.
inline void try_cancel_park(g* gp, sched_t* s) noexcept {
  std::uint8_t expect = park_cancellable;
  while (!gp->parkstate.compare_exchange_weak(expect, park_claimed, std::memory_order_acq_rel)) {
    if (expect != park_cancellable && expect != park_claimed) return;
    expect = park_cancellable;  // another runtime's unwinder holds a claim for a moment
    cpu_relax();
  }
  heavy_fence();
  bool cancelled = gp->sched == s && gp->status.load(std::memory_order_acquire) == gstatus::waiting &&
                   unwind_cancellable(gp) && gp->cancel != nullptr && gp->cancel(gp, gp->cancel_arg);
  if (cancelled) {
    gp->unwind.store(unwind_cancelled, std::memory_order_relaxed);
    ready(gp);
  }
  gp->parkstate.store(cancelled ? park_released : park_cancellable, std::memory_order_release);
}

// ---------------------------------------------------------------------------
// Sleeping and durations.

// describe_sleep: the describe_fn of a goroutine parked in timer_sleep:
// "timer, fires in 1.5 s".
inline std::uint64_t describe_sleep(const void* obj, std::string* out, const dump_ctx*) {
  if (out == nullptr) return 0;
  std::int64_t left = static_cast<const rtimer*>(obj)->when - nanotime();
  char buf[64];
  if (left >= INT64_MAX / 8  /* max_delay_ns / 2: "never" */) std::snprintf(buf, sizeof buf, "timer, fires never");
  else std::snprintf(buf, sizeof buf, "timer, fires in %.3g s", static_cast<double>(left > 0 ? left : 0) / 1e9);
  *out += buf;
  return 0;
}

// timer_sleep parks the calling goroutine until `when` (nanotime). Its timer
// (on this stack) is armed by park's unlock step, after the switch away, as
// Go's resetForSleep is: it cannot fire while the goroutine is still on its
// stack, and no lock is held across the park.
inline void timer_sleep(std::int64_t when) {
  rt_region rt;
  throw_if_blocking();
  rtimer t;
  t.when = when;
  t.arg = getg();
  t.f = [](rtimer* self, std::int64_t) noexcept { ready(static_cast<g*>(self->arg)); };
  park(
      wait_reason::sleep,
      [](g* gp, void* tp) noexcept {
        timer_add(gp->sched, static_cast<rtimer*>(tp));
        return true;
      },
      &t, park_opts{[](g* gp, void* tp) noexcept { return timer_del(gp->sched, static_cast<rtimer*>(tp)); }, &t, &t, &describe_sleep});
}

// Durations and deadlines saturate (docs/reference.md, "Time"): every API
// that takes one is a template over the caller's duration or time point type,
// so that no value overflows in a conversion before it reaches these helpers.
// A delay of max_delay_ns or more means "never": about 73 years, far beyond a
// process's life, yet small enough that nanotime() + it, and a ticker's next
// firing after it, cannot overflow (the deterministic clock may jump there).
inline constexpr std::int64_t max_delay_ns = INT64_MAX / 4;

// to_ns: a duration in ns, rounded up, in [0, max_delay_ns]. Any Rep and
// Period: the range check is in doubles (NaN counts as zero), so the exact
// conversion runs only on values that fit.
template <class Rep, class Period>
std::int64_t to_ns(std::chrono::duration<Rep, Period> d) noexcept {
  using namespace std::chrono;
  if (!(d > d.zero())) return 0;
  if (duration<double, std::nano>(d).count() >= static_cast<double>(max_delay_ns)) return max_delay_ns;
  return std::min(ceil<nanoseconds>(d).count(), max_delay_ns);
}

// when_after: the nanotime() ns (>= 0) after now, saturated below no_timer.
inline std::int64_t when_after(std::int64_t ns, std::int64_t now = nanotime()) noexcept {
  return ns >= no_timer - 1 - now ? no_timer - 1 : now + ns;
}

// deadline_ns: a goro::clock time point, of any duration type, as a
// nanotime() value. Saturates: time_point::min() (or any past time) is now,
// and a far future (time_point::max()) is now + max_delay_ns. The exact
// difference t - now is computed only when t is ahead by less than
// max_delay_ns, where converting t to the common duration cannot overflow (now
// is non-negative: the clocks count from boot or from the virtual epoch); the
// range check is in doubles.
template <class Dur>
std::int64_t deadline_ns(std::chrono::time_point<clock, Dur> t) noexcept {
  using dns = std::chrono::duration<double, std::nano>;
  clock::time_point now = clock::now();
  std::int64_t now_ns = nanotime();
  dns ahead = dns(t.time_since_epoch()) - dns(now.time_since_epoch());
  if (!(ahead.count() > 0)) return now_ns;
  if (ahead.count() >= static_cast<double>(max_delay_ns)) return when_after(max_delay_ns, now_ns);
  if (t <= now) return now_ns;
  return when_after(to_ns(t - now), now_ns);
}

// ---------------------------------------------------------------------------
// Who is calling.

// on_goroutine: is the caller a goroutine (not a plain OS thread, not an M's
// g0)?
inline bool on_goroutine() noexcept {
  m* mp = getm();
  return mp != nullptr && mp->curg != nullptr;
}

// cheaprand: a random number (Go: cheaprand). The caller's P's generator on
// a goroutine (owner-only state: the goroutine runs on that P), a
// thread-local one on a plain thread; in deterministic mode the seed (or the
// choice bytes) decides.
inline std::uint32_t cheaprand() noexcept {
  if constexpr (deterministic) return det_rand();
  m* mp = getm();
  if (mp != nullptr && mp->pp != nullptr) return fastrand(mp->pp->fastrand);
  static thread_local std::uint32_t state =
      (static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(&state) >> 4) ^ static_cast<std::uint32_t>(nanotime())) | 1u;
  return fastrand(state);
}

// spawn starts a goroutine running the nullary callable c (moved onto the
// new goroutine's stack) on the caller's runtime, created at site.
template <class C>
void spawn(C&& c, source_loc site) {
  newproc(current_sched(), std::forward<C>(c), site);
}

// go_at: goro::go's body: a goroutine running std::invoke(f, args...) on
// decay-copies of f and args (invoked as rvalues, like std::thread).
template <class F, class... A>
void go_at(source_loc site, F&& f, A&&... a) {
  spawn(closure<F, A...>{std::forward<F>(f), {std::forward<A>(a)...}}, site);
}

// ---------------------------------------------------------------------------
// The netpoller's accounting (netpoll.hpp). sched_t::np is the runtime's
// netpoller, set once; netpoll_waiters counts goroutines parked on fds, which
// find_runnable, sysmon and checkdead read.

// netpoll_of returns s's netpoller, making it with make(s) on first use.
// Any M or thread.
template <class NP>
NP* netpoll_of(sched_t* s, NP* (*make)(sched_t*)) {
  netpoller* np = s->np.load(std::memory_order_acquire);
  if (GORO_DETAIL_LIKELY(np != nullptr)) return static_cast<NP*>(np);
  NP* fresh = make(s);  // system calls: outside s->lock
  {
    rt_lock_guard lk(s->lock);
    np = s->np.load(std::memory_order_relaxed);
    if (np == nullptr) {
      s->np.store(fresh, std::memory_order_release);
      return fresh;
    }
  }
  delete fresh;
  return static_cast<NP*>(np);
}

// netpoll_waiter_added: a goroutine of s is queued on an fd (seq_cst: checkdead
// and find_runnable read the count without the poll_desc lock). Returns
// whether it is the first one (then call netpoll_kick once it has parked).
inline bool netpoll_waiter_added(sched_t* s) noexcept {
  return s->netpoll_waiters.fetch_add(1, std::memory_order_seq_cst) == 0;
}
// netpoll_waiter_removed: whoever unlinked a goroutine's fd wait record.
inline void netpoll_waiter_removed(sched_t* s) noexcept { s->netpoll_waiters.fetch_sub(1, std::memory_order_seq_cst); }

// netpoll_kick: the first goroutine started waiting on an fd. If the idle M
// that waits for the next timer sleeps on its note (it went to sleep when no
// fd was waited on), wake it so that it waits in the netpoller instead:
// otherwise nobody would poll until that timer fires.
inline void netpoll_kick(sched_t* s) {
  rt_lock_guard lk(s->lock);
  if (s->timer_m != nullptr && !s->timer_m_polls) s->timer_m->park.wakeup();
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_PARK_HPP
