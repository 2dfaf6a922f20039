// goro/sched.hpp — the threaded scheduler: Gs on Ms holding Ps (Go: proc.go).
//
// Contents, in the order a reader of proc.go would look for them:
//   switching          gogo: the one place that swaps stacks (errno, exception
//                      state, sanitizers), and the pending-op hand-off
//   run queues         runqput / globrunqput / globrunqget / steal_work
//   Ms and Ps          startm / stopm / wakep / handoffp / acquirep / releasep
//   schedule           execute, schedule (on a G's stack) and find_runnable
//                      (on g0); locked Ms; run_pending, the arriving side of
//                      every switch
//   goroutines         newproc, g_entry, goexit
//   Ms                 goro_thread_registry (every runtime's threads, for
//                      checkdead), mstart, the g0 loop; current_sched /
//                      default_sched
// Elsewhere: the runtime's state (schedt.hpp), the g cache (gcache.hpp), the
// scheduler's timers (sched_timers.hpp), sysmon (sysmon.hpp), the park/ready
// seam that everything above the scheduler calls (park.hpp), start-up,
// checkdead and shutdown (run.hpp), and the deterministic scheduler's hooks
// (det_hooks.hpp), which the code below calls under `if constexpr
// (deterministic)`.
//
// ---------------------------------------------------------------------------
// Spinning Ms (Go: "Worker thread parking/unparking", proc.go).
//
// We must not lose a wake-up (a runnable G with an idle P and no M looking),
// and must not wake an M for every ready. Go's protocol: an M is "spinning" when
// it has a P, its own queue is empty and it is looking for work to steal; at most
// procs/2 spin at once. Whoever readies a G wakes an M (wakep) only if there is an
// idle P and no spinning M. A spinning M that finds work stops spinning and, if
// it was the last spinner, wakes another (so that a burst of submissions is
// spread). A spinning M that finds nothing:
//   1. puts its P on the idle list (under sched.lock),
//   2. decrements nmspinning,
//   3. #StoreLoad (full_fence),
//   4. checks every P's run queue again, and if one has work takes an idle P
//      back and spins again.
// The submitter does: put the G in a queue, #StoreLoad (full_fence in wakep),
// check npidle / nmspinning. Either the submitter sees the idle P and no
// spinner (and wakes an M), or the M's re-check sees the G.
// Both halves are spinning.hpp's templates (wakep_claim, spinning_to_idle),
// model-checked by tests/relacy/spinning.cpp.
#ifndef GORO_DETAIL_SCHED_HPP
#define GORO_DETAIL_SCHED_HPP

#include "config.hpp"
#include "ctx.hpp"
#include "det_hooks.hpp"
#include "gcache.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "sanitizer.hpp"
#include "sched_timers.hpp"
#include "schedt.hpp"
#include "spinning.hpp"
#include "stack.hpp"
#include "tls.hpp"
#include "trace.hpp"

#include <algorithm>
#include <cxxabi.h>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <tuple>
#include <sys/syscall.h>
#include <sys/types.h>
#include <type_traits>
#include <unistd.h>
#include <unordered_map>
#include <utility>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::uint32_t global_runq_check_ticks = 61;  // Go: schedtick%61 == 0
inline constexpr int steal_tries = 4;                         // Go: stealTries
inline constexpr std::uint64_t goid_batch = 16;               // Go: _GoidCacheBatch

// Defined later, by the parts the scheduler calls back into: the park/ready
// seam (park.hpp), checkdead and the stack-overflow report (run.hpp).
inline void ready(g* gp);
inline void try_cancel_park(g* gp, sched_t* s) noexcept;
GORO_DETAIL_COMPILED void checkdead_locked(sched_t* s) noexcept;
[[noreturn]] GORO_DETAIL_COMPILED void stack_overflow_fatal(g* gp) noexcept;
inline void safe_point();

// ---------------------------------------------------------------------------
// Switching.

// gogo switches from the running context `from` to `to` on this M: the only
// place that swaps stacks. The departing side saves errno and the C++
// exception state into `from`, installs `to`'s exception state in this
// thread, and tells the sanitizers. The arriving side (which returns from its
// own earlier gogo, as `from`) finishes the departing side's pending op and
// restores its errno. noinline: nothing computed from TLS before the swap may
// be reused after it (the arriving side may be on another thread than when it
// left). This M only.
inline void run_pending(m* mp) noexcept;

GORO_DETAIL_NOINLINE inline void gogo(m* mp, g* from, g* to, bool exiting = false) noexcept {
  from->saved_errno = *errno_ptr();
  cxa_eh_globals* eh = eh_globals();
  from->eh_caught = eh->caught;
  from->eh_uncaught = eh->uncaught;
  eh->caught = to->eh_caught;
  eh->uncaught = to->eh_uncaught;
  if (from->stack.guard == guard_kind::canary && !exiting &&
      *reinterpret_cast<std::uint64_t*>(from->stack.lo) != stack_canary_value)
    stack_overflow_fatal(from);
  (void)mp;
  san_before_switch(from->san, to->san, exiting);
  goro_detail_ctx_swap(&from->sp, to->sp);
  // Arriving side: `from` is this context again.
  san_after_switch(from->san, false);
  run_pending(getm());
  *errno_ptr() = from->saved_errno;
}

// ---------------------------------------------------------------------------
// Run queues.

// globrunqput_locked / globrunqput_batch_locked append to the global queue.
// Require s->lock. (noexcept: running out of memory for the ring is fatal.)
inline void globrunqput_locked(sched_t* s, g* gp) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "globrunqput_locked: sched.lock not held");
  s->runq.push(gp);
  s->runq_size.store(s->runq_size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

inline void globrunqput_batch_locked(sched_t* s, g* const* gs, std::uint32_t n) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "globrunqput_batch_locked: sched.lock not held");
  s->runq.push_batch(gs, n);
  s->runq_size.store(s->runq_size.load(std::memory_order_relaxed) + static_cast<std::int32_t>(n), std::memory_order_relaxed);
}

// globrunqget takes a batch from the global queue: one to run, the rest into
// pp's local queue (Go: globrunqget). Requires s->lock. Owner P.
inline g* globrunqget_locked(sched_t* s, p* pp, std::int32_t max) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "globrunqget_locked: sched.lock not held");
  std::int32_t sz = s->runq_size.load(std::memory_order_relaxed);
  if (sz == 0) return nullptr;
  std::int32_t n = sz / static_cast<std::int32_t>(s->allp.size()) + 1;
  if (n > sz) n = sz;
  if (max > 0 && n > max) n = max;
  if (n > static_cast<std::int32_t>(p_runq::capacity / 2)) n = p_runq::capacity / 2;
  s->runq_size.store(sz - n, std::memory_order_relaxed);
  g* gp = s->runq.pop();
  while (--n > 0)
    if (pp->runq.put(s->runq.pop(), false) != nullptr) fatal("globrunqget: local runq full");
  return gp;
}

// runqput queues gp on pp (next: in runnext), spilling half of a full ring to
// the global queue (Go: runqput / runqputslow). Owner P only.
inline void runqput(sched_t* s, p* pp, g* gp, bool next) noexcept {
  if constexpr (deterministic) {
    det_put(s, gp);
    return;
  }
  g* over = pp->runq.put(gp, next);
  while (over != nullptr) {
    g* batch[p_runq::capacity / 2 + 1];
    std::uint32_t n = pp->runq.put_slow(batch);
    if (n == 0) {  // a thief made room: retry the plain put
      over = pp->runq.put(over, false);
      continue;
    }
    batch[n] = over;
    rt_lock_guard lk(s->lock);
    globrunqput_batch_locked(s, batch, n + 1);
    over = nullptr;
  }
}

inline std::uint32_t fastrand(std::uint32_t& state) noexcept {
  // xorshift32; state must be non-zero.
  std::uint32_t x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}

// steal_work tries to steal half of another P's queue: steal_tries rounds over
// the Ps in a random order, runnext only in the last round (Go: stealWork).
// Owner P only (pp is the thief's own P).
inline g* steal_work(sched_t* s, p* pp) noexcept {
  const std::uint32_t n = static_cast<std::uint32_t>(s->allp.size());
  if (n <= 1) return nullptr;
  for (int round = 0; round < steal_tries; ++round) {
    bool last = round == steal_tries - 1;
    std::uint32_t start = fastrand(pp->fastrand) % n;
    // From a random start, every other P once, in order.
    for (std::uint32_t i = 0; i < n; ++i) {
      p* victim = s->allp[(start + i) % n];
      if (victim == pp) continue;
      std::uint32_t got = 0;
      auto let_it_run = [victim] {
        // Go: a running victim is probably about to run its runnext itself.
        if (victim->mp.load(std::memory_order_relaxed) != nullptr) ::usleep(3);
      };
      if (g* gp = pp->runq.steal(victim->runq, last, let_it_run, &got)) {
        pp->add_relaxed(pp->steals);
        pp->add_relaxed(pp->stolen, got);
        return gp;
      }
    }
  }
  return nullptr;
}
// ---------------------------------------------------------------------------
// Ms and Ps.

GORO_DETAIL_COMPILED void mstart(m* mp);

// pidleput / pidleget: the idle P list. Require s->lock.
inline void pidleput_locked(sched_t* s, p* pp) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "pidleput_locked: sched.lock not held");
  pp->mp.store(nullptr, std::memory_order_relaxed);
  pp->status.store(p_idle, std::memory_order_relaxed);
  pp->link = s->pidle;
  s->pidle = pp;
  s->npidle.store(s->npidle.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
}
inline p* pidleget_locked(sched_t* s) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "pidleget_locked: sched.lock not held");
  p* pp = s->pidle;
  if (pp != nullptr) {
    s->pidle = pp->link;
    s->npidle.store(s->npidle.load(std::memory_order_relaxed) - 1, std::memory_order_seq_cst);
  }
  return pp;
}

inline void acquirep(m* mp, p* pp) noexcept {
  mp->pp = pp;
  pp->mp.store(mp, std::memory_order_relaxed);
  pp->status.store(p_running, std::memory_order_relaxed);
}
inline p* releasep(m* mp) noexcept {
  p* pp = mp->pp;
  mp->pp = nullptr;
  if (pp != nullptr) pp->mp.store(nullptr, std::memory_order_relaxed);
  return pp;
}

// newm starts a new M (thread) that will run with pp. Requires s->lock.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void newm_locked(sched_t* s, p* pp, bool spinning) {
  GORO_DETAIL_DCHECK(s->lock.held(), "newm_locked: sched.lock not held");
  if (static_cast<unsigned>(s->mcount) >= s->cfg.max_threads) {
    char buf[24];
    write_err("runtime: program exceeds ");
    write_err(fmt_u64(buf, s->cfg.max_threads));
    write_err("-thread limit\n");
    fatal("thread exhaustion");
  }
  m* mp = new m();
  mp->sched = s;
  mp->id = s->mnext++;
  mp->nextp = pp;
  mp->spinning = spinning;
  mp->fastrand = 0x9E3779B9u ^ static_cast<std::uint32_t>(mp->id * 2654435761u);
  if (mp->fastrand == 0) mp->fastrand = 1;
  mp->alllink = s->allm;
  s->allm = mp;
  ++s->mcount;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 << 20);  // g0: the scheduler's slow path only
  int rc = pthread_create(&mp->thread, &attr, [](void* arg) -> void* { mstart(static_cast<m*>(arg)); return nullptr; }, mp);
  pthread_attr_destroy(&attr);
  if (rc != 0) fatal("newm: pthread_create failed");
}

// startm runs pp on an idle M (or a new one). spinning: the M starts out
// spinning (its count is already in nmspinning). Any M or thread.
GORO_DETAIL_COMPILED void startm(sched_t* s, p* pp, bool spinning) {
  rt_lock_guard lk(s->lock);
  if (s->stopping) {  // run() is joining the Ms: start none it would miss
    if (spinning) s->nmspinning.fetch_sub(1, std::memory_order_seq_cst);
    if (pp != nullptr) pidleput_locked(s, pp);
    return;
  }
  if (pp == nullptr) {
    pp = pidleget_locked(s);
    if (pp == nullptr) {
      if (spinning) s->nmspinning.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
  }
  m* mp = s->midle;
  if (mp == nullptr) {
    newm_locked(s, pp, spinning);
    return;
  }
  s->midle = mp->schedlink;
  --s->nmidle;
  mp->spinning = spinning;
  mp->nextp = pp;
  mp->park.wakeup();
}
#else
GORO_DETAIL_COMPILED void startm(sched_t* s, p* pp, bool spinning);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// wakep wakes an M to run Gs if there is an idle P and no M spinning. Called
// after making a G runnable. Any M or thread. See "Spinning Ms".
// via_runnext: the G was published by runqput(next = true), whose seq_cst
// exchange of runnext already orders it before the loads below (and a
// spinning M's re-check reads runnext), so the #StoreLoad fence is skipped,
// as Go's XCHG-based atomic stores skip it.
GORO_DETAIL_ALWAYS_INLINE inline void wakep(sched_t* s, bool via_runnext) {  // declared in sched_timers.hpp (via_runnext = false)
  if constexpr (deterministic) return;  // one thread runs everything
  if (wakep_claim(s->npidle, s->nmspinning, via_runnext, [] { full_fence(); })) startm(s, nullptr, true);
}

// handoffp passes a P whose M is leaving it (a locked M about to sleep, an M
// leaving for good) to another M if there is work, else to the idle list
// (Go: handoffp). Any M.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void handoffp(sched_t* s, p* pp) {
  if (!pp->runq.empty() || s->runq_size.load(std::memory_order_relaxed) != 0) {
    startm(s, pp, false);
    return;
  }
  std::int32_t zero = 0;
  if (s->nmspinning.load() + s->npidle.load() == 0 && s->nmspinning.compare_exchange_strong(zero, 1)) {
    startm(s, pp, true);
    return;
  }
  rt_lock_guard lk(s->lock);
  // Work on the global queue, or timers with no M watching them (this M was
  // the last one running): give the P to an M (Go: handoffp's wakeNetPoller).
  if (s->runq_size.load(std::memory_order_relaxed) != 0 ||
      (timers_earliest(s) != no_timer && s->timer_m == nullptr && !s->stopping)) {
    s->lock.unlock();
    startm(s, pp, false);
    s->lock.lock();
    return;
  }
  pidleput_locked(s, pp);
}

// stopm puts this M on the idle list and sleeps until startm hands it a P.
// Returns false if the runtime is stopping (the M must exit). This M, on g0.
GORO_DETAIL_COMPILED bool stopm(m* mp) {
  sched_t* s = mp->sched;
  {
    rt_lock_guard lk(s->lock);
    if (s->stopping) return false;
    mp->schedlink = s->midle;
    s->midle = mp;
    ++s->nmidle;
    checkdead_locked(s);
  }
  s->pool->scavenge();  // idle: a good time to give a burst's stacks back
  mp->park.sleep();
  mp->park.clear();
  if (mp->nextp == nullptr) return false;  // woken by shutdown
  acquirep(mp, mp->nextp);
  mp->nextp = nullptr;
  return true;
}
#else
GORO_DETAIL_COMPILED void handoffp(sched_t* s, p* pp);
GORO_DETAIL_COMPILED bool stopm(m* mp);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// schedule and find_runnable.

// start_g starts running gp on this M, switching away from `from` (g0, or
// the G that schedule is leaving): a new time slice for the P (schedtick,
// and sysmon's preemption mark cleared) unless gp inherits the current one
// (see runq_next), then the switch. The one way into a G for execute,
// schedule and the deterministic scheduler (which has no sysmon and no time
// slices: it only counts the switch). Requires mp->pp; this M only.
GORO_DETAIL_ALWAYS_INLINE inline void start_g(m* mp, g* from, g* gp, bool inherit = false, bool exiting = false) noexcept {
  p* pp = mp->pp;
  if (!deterministic && !inherit) {
    pp->schedtick.store(pp->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (pp->preempt.load(std::memory_order_relaxed)) pp->preempt.store(false, std::memory_order_relaxed);
  }
  pp->add_relaxed(pp->scheduled);
  if (GORO_DETAIL_UNLIKELY(pp->trace != nullptr)) trace_go_start(pp, gp, from != &mp->g0);
  pp->curg.store(gp, std::memory_order_release);  // for stall reports (stall.hpp)
  set_gstatus(gp, gstatus::runnable, gstatus::running, "start_g: the goroutine is not runnable");
  mp->curg = gp;
  gogo(mp, from, gp, exiting);
}

// execute switches from g0 to gp on this M. Requires mp->pp.
inline void execute(m* mp, g* gp) noexcept { start_g(mp, &mp->g0, gp); }

// runq_next is schedule's fast path: the local queue, and the global queue
// every 61st tick for fairness (Go: schedule's checks). Owner P.
// inherit: the G came from runnext and shares the current time slice (Go:
// inheritTime): schedtick is not advanced for it, so a pair of goroutines
// that keep readying each other through runnext looks to sysmon like one
// long-running goroutine and is preempted after 10 ms, letting the rest of
// the queue run.
// Each call also prefetches the G now at the head of the ring: a G waits
// there while many others run, so its lines are usually cold by the time it
// runs, and schedule's first read of it was the hottest miss in skynet.
// Prefetching is safe on any address, so a stale peek costs nothing.
inline g* runq_next(sched_t* s, p* pp, bool* inherit = nullptr) noexcept {
  if (inherit != nullptr) *inherit = false;
  if (pp->schedtick.load(std::memory_order_relaxed) % global_runq_check_ticks == 0 && s->runq_size.load(std::memory_order_relaxed) > 0) {
    rt_lock_guard lk(s->lock);
    if (g* gp = globrunqget_locked(s, pp, 1)) return gp;
  }
  g* gp = pp->runq.get(inherit);
  if (g* next = pp->runq.peek()) {
    __builtin_prefetch(next, 1);
    __builtin_prefetch(reinterpret_cast<const char*>(next) + 64, 1);
  }
  return gp;
}

// schedule leaves the current G (cur), whose pending op is already in
// mp->pending, and runs another: directly when the local queue has one (one
// switch), else through g0 and find_runnable. Returns when cur is resumed
// (never, with exiting: cur's stack is done). Runs on cur's stack; this M only.
GORO_DETAIL_ALWAYS_INLINE inline void schedule(m* mp, g* cur, bool exiting = false) {
  sched_t* s = mp->sched;
  if constexpr (deterministic) {
    // One thread: nothing runs concurrently with cur, so its park or yield is
    // finished here, before the choice (its exit must wait for the switch: the
    // stack is still in use). The seed picks the next G; if it picks cur again
    // there is no switch at all.
    if (!exiting) run_pending(mp);
    g* next = det_next(s);
    if (next == cur) {
      cur->status.store(gstatus::running, std::memory_order_relaxed);
      return;
    }
    // The trace's slice ends only at a real switch (trace.hpp).
    if (GORO_DETAIL_UNLIKELY(mp->pp->trace != nullptr)) trace_go_stop(mp->pp, cur);
    if (next != nullptr) {
      start_g(mp, cur, next, false, exiting);
      return;
    }
    mp->curg = nullptr;
    gogo(mp, cur, &mp->g0, exiting);
    return;
  }
  if (GORO_DETAIL_UNLIKELY(mp->pp->trace != nullptr)) trace_go_stop(mp->pp, cur);
  if (mp->lockedg == nullptr && !mp->exiting) {
    bool inherit;
    g* gp = runq_next(s, mp->pp, &inherit);
    if (gp != nullptr) {
      if (gp->lockedm == nullptr) {
        start_g(mp, cur, gp, inherit, exiting);
        return;
      }
      mp->nextg = gp;  // a G locked to another M: g0 hands it over
    }
  }
  mp->curg = nullptr;
  gogo(mp, cur, &mp->g0, exiting);
}

// injectglist makes the goroutines of a list (linked through schedlink, as
// netpoller::poll returns them) runnable on the global queue and starts Ms
// for them (Go: injectglist). Any M.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void injectglist(sched_t* s, g* list) {
  if (list == nullptr) return;
  if constexpr (deterministic) {
    while (list != nullptr) {  // one thread: straight into the runnable set
      g* gp = list;
      list = gp->schedlink;
      gp->schedlink = nullptr;
      set_gstatus(gp, gstatus::waiting, gstatus::runnable, "injectglist: a goroutine from the poller is not waiting");
      det_put(s, gp);
    }
    return;
  }
  int n = 0;
  {
    rt_lock_guard lk(s->lock);
    while (list != nullptr) {
      g* gp = list;
      list = gp->schedlink;
      set_gstatus(gp, gstatus::waiting, gstatus::runnable, "injectglist: a goroutine from the poller is not waiting");
      globrunqput_locked(s, gp);
      ++n;
    }
  }
  for (; n > 0 && s->npidle.load(std::memory_order_relaxed) > 0; --n) startm(s, nullptr, false);
}

// netpoll_ready: the goroutines whose fds are ready (np->poll: a list linked
// through schedlink), waiting at most wait ns (-1: until one is). Each gets
// an unblock event in the trace, readied by nobody (the poller). Any M.
GORO_DETAIL_COMPILED g* netpoll_ready(sched_t* s, netpoller* np, std::int64_t wait) {
  g* list = np->poll(wait);
  if (GORO_DETAIL_UNLIKELY(tracing(s)))
    for (g* gp = list; gp != nullptr; gp = gp->schedlink) trace_go_unblock(s, nullptr, nullptr, gp);
  return list;
}

// netpoll_run_first: of the goroutines the poller readied (list), the first
// is made runnable for this M to run now, the rest go to the global queue
// (Go: findRunnable's casgstatus of the list's head, injectglist). Owner P.
GORO_DETAIL_COMPILED g* netpoll_run_first(sched_t* s, g* list) {
  g* first = list;
  injectglist(s, first->schedlink);
  first->schedlink = nullptr;
  set_gstatus(first, gstatus::waiting, gstatus::runnable, "netpoll: a goroutine from the poller is not waiting");
  return first;
}

// netpoll_nonblocking: Go's netpoll(0) in findRunnable: if goroutines wait
// on fds, collect the ready ones: the first to run now, the rest to the global
// queue. (Go skips it while an M is blocked in poll; with epoll both may poll
// at once.) Owner P.
GORO_DETAIL_COMPILED g* netpoll_nonblocking(sched_t* s) {
  netpoller* np = s->np.load(std::memory_order_acquire);
  if (np == nullptr || s->netpoll_waiters.load(std::memory_order_relaxed) == 0) return nullptr;
  s->last_poll.store(nanotime(), std::memory_order_relaxed);
  g* list = netpoll_ready(s, np, 0);
  return list != nullptr ? netpoll_run_first(s, list) : nullptr;
}

// find_runnable finds a G to run: local, global, steal, else sleep. Returns
// nullptr when the M must exit (shutdown). This M, on g0, holding a P on entry
// and on return (Go: findRunnable).
GORO_DETAIL_COMPILED g* find_runnable(m* mp) {
  sched_t* s = mp->sched;
top:
  p* pp = mp->pp;
  check_timers(pp);
  if (g* gp = runq_next(s, pp)) return gp;
  if (s->runq_size.load(std::memory_order_relaxed) != 0) {
    rt_lock_guard lk(s->lock);
    if (g* gp = globrunqget_locked(s, pp, 0)) return gp;
  }
  if (g* gp = netpoll_nonblocking(s)) return gp;
  if (run_other_timers(s, pp)) goto top;  // they readied Gs onto pp
  // Steal, as a spinning M, if not too many are spinning already.
  {
    std::int32_t procs = static_cast<std::int32_t>(s->allp.size());
    if (mp->spinning || 2 * s->nmspinning.load() < procs - s->npidle.load()) {
      if (!mp->spinning) {
        mp->spinning = true;
        s->nmspinning.fetch_add(1, std::memory_order_seq_cst);
      }
      if (g* gp = steal_work(s, pp)) return gp;
    }
  }
  // Nothing: give up the P. See "Spinning Ms".
  s->lock.lock();
  if (s->stopping) {
    s->lock.unlock();
    return nullptr;
  }
  if (g* gp = globrunqget_locked(s, pp, 0)) {
    s->lock.unlock();
    return gp;
  }
  releasep(mp);
  pidleput_locked(s, pp);
  s->lock.unlock();
  if (mp->spinning) {
    mp->spinning = false;
    // The re-check covers the global queue too: a plain thread (or the
    // unwinder, or sysmon) that queued a G there may have seen this M still
    // spinning and woken nobody.
    auto has_work = [s] {
      if (s->runq_size.load(std::memory_order_seq_cst) != 0) return true;
      for (p* other : s->allp)
        if (!other->runq.empty()) return true;
      return false;
    };
    if (spinning_to_idle(s->nmspinning, [] { full_fence(); }, has_work)) {
      s->lock.lock();
      p* got = pidleget_locked(s);
      s->lock.unlock();
      if (got != nullptr) {
        acquirep(mp, got);
        mp->spinning = true;
        s->nmspinning.fetch_add(1, std::memory_order_seq_cst);
        goto top;
      }
    }
  }
  // Timers and fds: one idle M (timer_m) waits until the earliest timer of
  // any P, in the netpoller if goroutines wait on fds (Go: the M blocked in
  // netpoll), else on its note. An earlier timer added meanwhile wakes it:
  // see "Timer M wake-ups" (sched_timers.hpp).
  netpoller* np = s->np.load(std::memory_order_acquire);
  bool want_poll = np != nullptr && s->netpoll_waiters.load(std::memory_order_relaxed) > 0;
  if (want_poll || timers_earliest(s) != no_timer) {
    s->lock.lock();
    std::int64_t next = timers_earliest(s);
    np = s->np.load(std::memory_order_acquire);  // again, under the lock: a waiter may have come meanwhile
    want_poll = np != nullptr && s->netpoll_waiters.load(std::memory_order_relaxed) > 0;
    if ((want_poll || next != no_timer) && s->timer_m == nullptr && !s->stopping) {
      s->timer_m = mp;
      s->timer_m_polls = want_poll;
      next = timer_m_publish_until(s, next);
      s->lock.unlock();
      std::int64_t wait = next == no_timer ? -1 : std::max<std::int64_t>(next - nanotime(), 0);
      g* list = nullptr;
      if (want_poll) {
        list = netpoll_ready(s, np, wait);
        s->last_poll.store(nanotime(), std::memory_order_relaxed);
      }
      else if (wait > 0) mp->park.sleep_for(wait);
      s->lock.lock();
      s->timer_m = nullptr;  // from here on nobody wakes this M for timers
      s->timer_m_until.store(no_sleeper, std::memory_order_seq_cst);
      s->timer_m_polls = false;
      p* got = s->stopping ? nullptr : pidleget_locked(s);
      bool stop = s->stopping;
      s->lock.unlock();
      mp->park.clear();
      if (got != nullptr) {
        acquirep(mp, got);
        if (list != nullptr) return netpoll_run_first(s, list);
        goto top;
      }
      injectglist(s, list);
      if (stop) return nullptr;
    } else {
      s->lock.unlock();
    }
  }
  if (!stopm(mp)) return nullptr;
  goto top;
}

// reset_spinning: a spinning M found work. If it was the last spinner, wake
// another so that the rest of a burst is picked up too (Go: resetspinning).
GORO_DETAIL_COMPILED void reset_spinning(m* mp) {
  mp->spinning = false;
  sched_t* s = mp->sched;
  if (s->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) fatal("reset_spinning: negative nmspinning");
  wakep(s);
}

// startlockedm hands this M's P and gp to the M gp is locked to, which is
// asleep in stoplockedm (Go: startlockedm). This M, on g0; it then has no P.
GORO_DETAIL_COMPILED void startlockedm(m* mp, g* gp) {
  m* target = gp->lockedm;
  sched_t* s = mp->sched;
  {
    // The target stops counting as idle now, before this M goes idle: else
    // checkdead could see no running M in between (Go: incidlelocked(-1)).
    rt_lock_guard lk(s->lock);
    --s->nmidlelocked;
  }
  p* pp = releasep(mp);
  target->nextp = pp;
  target->nextg = gp;
  target->park.wakeup();
}

// stoplockedm: this M's G is locked to it and has left (parked or yielded):
// give the P away and sleep until someone hands the G back with a P
// (Go: stoplockedm). This M, on g0.
GORO_DETAIL_COMPILED bool stoplockedm(m* mp) {
  sched_t* s = mp->sched;
  p* pp = releasep(mp);
  {
    rt_lock_guard lk(s->lock);
    ++s->nmidlelocked;
    checkdead_locked(s);
  }
  if (pp != nullptr) handoffp(s, pp);  // nullptr: it lost its P in blocking<>
  mp->park.sleep();
  mp->park.clear();
  if (mp->nextp == nullptr) return false;  // shutdown (startlockedm did not run: the count no longer matters)
  acquirep(mp, mp->nextp);
  mp->nextp = nullptr;
  return true;
}

// mexit: this M's locked G exited without unlocking: like Go, the thread is
// not reused (thread-affine state may be left behind). Its P goes to another M.
GORO_DETAIL_COMPILED void mexit(m* mp) {
  sched_t* s = mp->sched;
  p* pp = releasep(mp);
  {
    rt_lock_guard lk(s->lock);
    --s->mcount;
  }
  handoffp(s, pp);
}
#else
GORO_DETAIL_COMPILED void injectglist(sched_t* s, g* list);
GORO_DETAIL_COMPILED g* netpoll_ready(sched_t* s, netpoller* np, std::int64_t wait);
GORO_DETAIL_COMPILED g* find_runnable(m* mp);
GORO_DETAIL_COMPILED void reset_spinning(m* mp);
GORO_DETAIL_COMPILED void startlockedm(m* mp, g* gp);
GORO_DETAIL_COMPILED bool stoplockedm(m* mp);
GORO_DETAIL_COMPILED void mexit(m* mp);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// Pending ops: the arriving side of a switch finishes what the departing G
// left in mp->pending (see "Parking" in park.hpp). This M only, first thing
// after every switch (gogo's arriving side, g_entry).
inline void run_pending(m* mp) noexcept {
  pending_op op = mp->pending;
  mp->pending.kind = pending_kind::none;
  switch (op.kind) {
    case pending_kind::none:
      break;
    case pending_kind::park: {
      g* gp = op.gp;
      cancel_fn cancel = gp->cancel;  // read before unlock: after it, gp may run again
      sched_t* s = gp->sched;
      set_gstatus(gp, gstatus::running, gstatus::waiting, "park: the parking goroutine is not running", std::memory_order_release);
      if (op.unlock != nullptr && !op.unlock(gp, op.arg)) {
        if (cancel != nullptr) gp->parkstate.store(park_none, std::memory_order_relaxed);
        set_gstatus(gp, gstatus::waiting, gstatus::runnable, "park: a cancelled park's goroutine is not waiting");
        runqput(s, mp->pp, gp, true);
        break;
      }
      // From here a waker may already have readied gp, and another M resumed
      // it; but a cancellable park is still park_arming (set by park), and gp
      // waits in park until this store, so the slot is still gp's here.
      if (cancel != nullptr) {
        gp->parkstate.store(park_cancellable, std::memory_order_release);
        light_fence();  // Dekker with run_main's exiting store; see "Unwinding at shutdown" (run.hpp)
        // gp may leave park from here on; try_cancel_park claims before it reads gp.
        // Deterministic mode unwinds main last: a park main begins before its
        // turn is cancelled by det_unwind_main, not here.
        if (GORO_DETAIL_UNLIKELY(s->exiting.load(std::memory_order_relaxed)) && !det_main_waits(gp)) try_cancel_park(gp, s);
      }
      break;
    }
    case pending_kind::yield:
      set_gstatus(op.gp, gstatus::running, gstatus::runnable, "yield: the goroutine is not running");
      runqput(mp->sched, mp->pp, op.gp, false);
      break;
    case pending_kind::exit: {
      g* gp = op.gp;
      san_fiber_destroy(gp->san);
      gfput(*mp->sched->pool, mp->pp, gp);
      break;
    }
    case pending_kind::exitsyscall: {
      // Back from blocking<> with no P free: the G waits on the global queue
      // and this M goes idle (Go: exitsyscall0).
      set_gstatus(op.gp, gstatus::syscall, gstatus::runnable, "exitsyscall: the goroutine is not in a system call");
      {
        rt_lock_guard lk(mp->sched->lock);
        globrunqput_locked(mp->sched, op.gp);
      }
      wakep(mp->sched);
      break;
    }
  }
  // Timers are run here, on the arriving side, never before a switch: the
  // departing side may hold a lock that firing a timer needs.
  if (mp->pp != nullptr) check_timers(mp->pp);
}
// ---------------------------------------------------------------------------
// Goroutine creation and exit.

[[noreturn]] inline void goexit(g* gp) noexcept;

inline std::uint64_t new_goid(sched_t* s, p* pp) noexcept {
  if (pp == nullptr) return s->goid_gen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (pp->goid_next == pp->goid_end) {
    pp->goid_next = s->goid_gen.fetch_add(goid_batch, std::memory_order_relaxed) + 1;
    pp->goid_end = pp->goid_next + goid_batch;
  }
  return pp->goid_next++;
}

// g_entry is where a new goroutine starts, on its own stack, called by the
// context switch's entry trampoline.
inline void g_entry(void* arg) {
  g* self = static_cast<g*>(arg);
  san_after_switch(self->san, true);
  san_edge(self, false);  // go: the spawner's edge (newproc)
  {
    rt_region rt;
    run_pending(getm());
    *errno_ptr() = 0;
  }
  self->body(self);
  if (GORO_DETAIL_UNLIKELY(self->held != nullptr)) {  // lock sites (held_locks, runtime2.hpp)
    delete self->held;
    self->held = nullptr;
  }
  san_edge(self->sched, true);  // this goroutine's end happens before run() returns
  rt_region rt;                 // never ends: goexit switches away for good
  goexit(self);
}

// panic_text: the report of an exception e escaping goroutine gp
// (docs/reference.md, "Runtime"): Go's "panic: ..." followed by the
// goroutine and its creation site.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED std::string panic_text(g* gp, std::exception_ptr e) {
  std::string what;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    what = std::string("exception of type ") + (t != nullptr ? t->name() : "unknown");
  }
  char buf[24];
  std::string out = "panic: " + what + "\n\ngoroutine ";
  out += fmt_u64(buf, gp->id);
  out += " [running], created at ";
  append_site(out, gp->site);
  out += "\n";
  return out;
}

// panic_abort ends the process for an exception escaping a goroutine other
// than main (threaded mode; deterministic mode fails the run instead).
[[noreturn]] GORO_DETAIL_COMPILED void panic_abort(g* gp, std::exception_ptr e) noexcept {
  std::string text = panic_text(gp, e);
  write_err(text.c_str(), text.size());
  std::abort();
}
#else
GORO_DETAIL_COMPILED std::string panic_text(g* gp, std::exception_ptr e);
[[noreturn]] GORO_DETAIL_COMPILED void panic_abort(g* gp, std::exception_ptr e) noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

// closure stores the decay-copied callable and arguments of a goroutine.
template <class F, class... A>
struct closure {
  std::decay_t<F> f;
  std::tuple<std::decay_t<A>...> args;
  void operator()() { std::apply([this](auto&... a) { std::invoke(std::move(f), std::move(a)...); }, args); }
};

inline void g_destroy_closure(g* gp) noexcept {
  if (gp->destroy != nullptr) gp->destroy(gp->closure);
  gp->destroy = nullptr;
}

// g_escaped handles an exception that escaped gp's body: main's is rethrown
// by run(); another goroutine's is a panic (fatal in threaded mode, the run's
// failure in deterministic mode).
GORO_DETAIL_COMPILED void g_escaped(g* gp, std::exception_ptr e);
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void g_escaped(g* gp, std::exception_ptr e) {
  if (gp->is_main) gp->sched->main_exception = e;
  else if constexpr (deterministic) det_fail(gp->sched, std::make_exception_ptr(panic_error(panic_text(gp, e) + "\n" + det_dump(gp->sched))));
  else panic_abort(gp, e);
}
#endif  // GORO_DETAIL_DEFINE_COMPILED

// g_body runs a goroutine's closure C and destroys it. An exception escaping
// main is kept for run() to rethrow; one escaping another goroutine is a
// panic (the process ends; deterministic mode fails the run instead).
template <class C>
void g_body(g* gp) {
  C* c = static_cast<C*>(gp->closure);
  // A goroutine that was still queued when the runtime began unwinding never
  // starts: its closure is destroyed unrun.
  if (!(gp->sched->exiting.load(std::memory_order_relaxed) && gp->unwind.load(std::memory_order_relaxed) == unwind_live)) {
    try {
      (*c)();
    } catch (goroutine_exit&) {
    } catch (...) {
      g_escaped(gp, std::current_exception());
    }
  }
  // Past the body: the closure's destructors may block (a captured object's),
  // and goroutine_exit must not come out of them (g_destroy_closure is noexcept).
  gp->unwind.store(unwind_done, std::memory_order_relaxed);
  g_destroy_closure(gp);
}

// newproc creates a goroutine running c on runtime s and queues it (Go:
// newproc). The closure goes on the new stack, below its g, unless it is large.
template <class C>
void newproc(sched_t* s, C&& c, source_loc site, bool is_main = false) {
  using CT = std::decay_t<C>;
  rt_region rt;
  // go's preemption point: threaded mode, before the goroutine exists (a
  // goroutine_exit thrown here means it never started; wait_group::go and
  // errgroup rely on that). Deterministic mode's point comes after it is
  // queued, below, so that the seed may run the child before the parent's
  // next statement (as another P may); it never throws goroutine_exit (the
  // parent is unwound at its next point).
  if constexpr (!deterministic) safe_point();
  m* mp = getm();
  p* pp = (mp != nullptr && mp->sched == s) ? mp->pp : nullptr;
  g* gp = gfget(*s->pool, pp);
  if (gp == nullptr) fatal("newproc: out of memory for goroutine stacks");
  // Fields: reset every use (the slot may be recycled).
  gp->sched = s;
  gp->site = site;
  gp->is_main = is_main;
  gp->lockedm = nullptr;
  gp->locked_count = 0;
  gp->why.store(wait_reason::none, std::memory_order_relaxed);
  gp->cancel = nullptr;
  gp->param = nullptr;
  gp->unwind.store(unwind_live, std::memory_order_relaxed);
  gp->exit_again.store(0, std::memory_order_relaxed);
  gp->saved_errno = 0;
  gp->eh_caught = nullptr;
  gp->eh_uncaught = 0;
  gp->schedlink = nullptr;
  gp->trace_flow = 0;
  char* lo = gp->stack.lo;
  if (gp->stack.guard == guard_kind::canary) *reinterpret_cast<std::uint64_t*>(lo) = stack_canary_value;
  char* top = reinterpret_cast<char*>(gp);
  std::size_t usable = static_cast<std::size_t>(top - lo);
  if (sizeof(CT) + alignof(CT) <= usable / 8) {
    auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(CT)) & ~(std::uintptr_t{alignof(CT)} - 1);
    gp->closure = ::new (reinterpret_cast<void*>(addr)) CT(std::forward<C>(c));
    top = reinterpret_cast<char*>(addr);
    gp->destroy = [](void* obj) { static_cast<CT*>(obj)->~CT(); };
  } else {
    gp->closure = new CT(std::forward<C>(c));
    gp->destroy = [](void* obj) { delete static_cast<CT*>(obj); };
  }
  gp->body = &g_body<CT>;
  // ASan: a recycled stack still has the redzones of frames that never
  // returned (the previous goroutine's last switch); clear them before ctx_make
  // writes the first frame.
  san_stack_reuse(lo, static_cast<std::size_t>(top - lo));
  gp->sp = ctx_make(top, &g_entry, gp);
  san_edge(gp, true);  // go happens before the goroutine starts (g_entry)
  san_fiber_create(gp->san, lo, static_cast<std::size_t>(gp->stack.hi - lo));
  gp->id = new_goid(s, pp);
  set_gstatus(gp, gstatus::dead, gstatus::runnable, "newproc: the new goroutine's g is not dead (a g cache holds a live g)");
  if (GORO_DETAIL_UNLIKELY(pp != nullptr ? pp->trace != nullptr : tracing(s))) trace_go_create(s, pp, pp != nullptr ? mp->curg : nullptr, gp);
  if constexpr (deterministic) det_spawn(s, gp);
  if (pp != nullptr) {
    pp->created.store(pp->created.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    runqput(s, pp, gp, true);
    if constexpr (deterministic) {
      det_point(false);
      return;
    }
    wakep(s, true);
    return;
  }
  s->extra_created.fetch_add(1, std::memory_order_release);
  {
    rt_lock_guard lk(s->lock);
    globrunqput_locked(s, gp);
  }
  wakep(s);
}

// goexit finishes the calling goroutine (Go: goexit0): counts it, and switches
// away for good; the arriving side recycles its stack. This M only.
[[noreturn]] inline void goexit(g* gp) noexcept {
  m* mp = getm();
  sched_t* s = gp->sched;
  clear_goroutine_label(gp);  // a reused slot starts without one (runtime2.hpp)
  if (gp->lockedm != nullptr) {  // exited while locked: the thread is not reused
    gp->lockedm = nullptr;
    mp->lockedg = nullptr;
    mp->exiting = true;
  }
  p* pp = mp->pp;
  bool was_main = gp->is_main;
  pp->exited.store(pp->exited.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  light_fence();  // Dekker with run_main's wait for the last goroutine (its heavy_fence)
  if constexpr (deterministic) {
    det_exit(s, gp);  // main's: sets exiting (det_next begins the unwinding), or defers it (fail_on_leak)
    if (was_main) s->main_done.store(true, std::memory_order_relaxed);
  } else if (was_main) {
    // Goroutines not started yet must never start now (Go ends them with the
    // process): unwinding begins here, run_main completes it.
    s->exiting.store(true, std::memory_order_seq_cst);
    s->main_done.store(true, std::memory_order_release);
    s->done.wakeup();
  } else if (s->exiting.load(std::memory_order_relaxed)) {
    s->done.wakeup();
  }
  mp->pending = pending_op{pending_kind::exit, gp, nullptr, nullptr};
  schedule(mp, gp, true);
  fatal("goexit: a dead goroutine was resumed");
}

// live_goroutines: user goroutines of s alive now (main included). Acquire
// loads pair with the release increments, so an exit is never counted before
// its goroutine's creation.
inline std::int64_t live_goroutines(sched_t* s) noexcept {
  std::int64_t n = static_cast<std::int64_t>(s->extra_created.load(std::memory_order_acquire));
  for (p* pp : s->allp)
    n += static_cast<std::int64_t>(pp->created.load(std::memory_order_acquire)) -
         static_cast<std::int64_t>(pp->exited.load(std::memory_order_acquire));
  return n;
}

// ---------------------------------------------------------------------------
// Ms.

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void stack_bounds_of_thread(void** lo, std::size_t* size) noexcept {
  pthread_attr_t attr;
  *lo = nullptr;
  *size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, lo, size);
    pthread_attr_destroy(&attr);
  }
}
#else
GORO_DETAIL_COMPILED void stack_bounds_of_thread(void** lo, std::size_t* size) noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// goro's own threads. checkdead (run.hpp) must tell the threads that could
// still wake a goroutine from goro's own, which carry no telling name: every
// M and sysmon of every runtime (the default runtime's too) records its tid
// here, with its runtime, for as long as it runs.

inline pid_t current_tid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

struct goro_threads {
  rt_mutex lock;
  pid_t pid = 0;                               // lock: the process the entries belong to
  std::unordered_map<pid_t, sched_t*> tids;    // lock: tid -> its runtime
  // forget_parent drops the entries a forked child inherited (their threads
  // are the parent's). Requires lock.
  void forget_parent_locked() {
    pid_t self = ::getpid();
    if (pid != self) {
      tids.clear();
      pid = self;
    }
  }
};

// goro_thread_registry: process-wide, never destroyed (the default runtime's
// threads outlive static destructors).
inline goro_threads& goro_thread_registry() {
  static goro_threads* r = new goro_threads;
  return *r;
}

// goro_thread_scope records the calling thread as s's for its lifetime. The
// first and last thing an M (mstart) or sysmon does.
class goro_thread_scope {
 public:
  explicit goro_thread_scope(sched_t* s) : tid_(current_tid()) {
    goro_threads& r = goro_thread_registry();
    rt_lock_guard lk(r.lock);
    r.forget_parent_locked();
    r.tids[tid_] = s;
  }
  ~goro_thread_scope() {
    goro_threads& r = goro_thread_registry();
    rt_lock_guard lk(r.lock);
    r.tids.erase(tid_);
  }
  goro_thread_scope(const goro_thread_scope&) = delete;
  goro_thread_scope& operator=(const goro_thread_scope&) = delete;

 private:
  pid_t tid_;
};

// mstart is an M's thread: the g0 loop (Go: mstart / schedule on g0).
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void mstart(m* mp) {
  goro_thread_scope mine(mp->sched);
  set_tls_m(mp);
  mp->procid.store(current_tid(), std::memory_order_relaxed);
  alt_stack sigstack;
  void* lo;
  std::size_t size;
  stack_bounds_of_thread(&lo, &size);
  mp->g0.is_thread = false;
  mp->g0.sched = mp->sched;
  san_thread_fiber(mp->g0.san, lo, size);
  acquirep(mp, mp->nextp);
  mp->nextp = nullptr;
  for (;;) {
    if (mp->exiting) {
      mexit(mp);
      break;
    }
    g* gp = nullptr;
    if (mp->pp == nullptr && mp->lockedg == nullptr) {
      // Back from blocking<> without a P (exitsyscall's slow path): idle.
      if (!stopm(mp)) break;
      continue;
    }
    if (mp->lockedg != nullptr) {
      // Our locked G left this M: wait until it is handed back with a P.
      if (!stoplockedm(mp)) break;
      gp = mp->nextg;
      mp->nextg = nullptr;
    } else {
      gp = mp->nextg;
      mp->nextg = nullptr;
      if (gp == nullptr) gp = find_runnable(mp);
      if (gp == nullptr) break;
      if (mp->spinning) reset_spinning(mp);
      if (gp->lockedm != nullptr && gp->lockedm != mp) {
        startlockedm(mp, gp);
        if (!stopm(mp)) break;
        continue;
      }
    }
    execute(mp, gp);
  }
  if (mp->pp != nullptr) {
    // Shutdown: leave the P idle for run() to reclaim.
    rt_lock_guard lk(mp->sched->lock);
    pidleput_locked(mp->sched, releasep(mp));
  }
  set_tls_m(nullptr);
}
#endif  // GORO_DETAIL_DEFINE_COMPILED

// default_sched: the process-wide runtime for plain threads outside run(),
// started on first use, never shut down (docs/reference.md, "Runtime": its
// goroutines are abandoned at exit). Deterministic mode has none: every
// goroutine runs on run()'s thread.
inline sched_t* default_sched() {
  if constexpr (deterministic) {
    throw std::logic_error("goro: deterministic mode runs goroutines only inside goro::run (called from a plain thread)");
  } else {
    static sched_t* s = new sched_t(config{}, true);
    return s;
  }
}

// current_sched: the runtime of the calling goroutine, or the default one.
inline sched_t* current_sched() {
  m* mp = getm();
  return mp != nullptr ? mp->sched : default_sched();
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SCHED_HPP
