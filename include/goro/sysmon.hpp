// goro/sysmon.hpp — the system monitor: a background thread per runtime that
// retakes Ps from Ms blocked in blocking<>, marks goroutines that ran too
// long for preemption at their next safe point, polls a stale netpoller, fires
// overdue timers, and prints schedtrace lines and SIGQUIT dumps (Go: sysmon,
// retake and schedtrace in proc.go). Threaded mode only: a deterministic run
// starts no sysmon.
//
// sysmon is not an M (it never runs goroutines and holds no P). Every round
// (20 us, doubling after 50 idle rounds up to 10 ms) it:
//   - retakes Ps whose M has been inside blocking<handoff_lazy> for a whole
//     round, unless the P has no work and other Ms spin or Ps are idle,
//     and the call has lasted under 10 ms (Go: retake);
//   - marks Ps whose G has run for over 10 ms without a schedule: that G
//     yields at its next safe point (safe_point, park.hpp);
//   - polls the netpoller if nobody has for 10 ms;
//   - fires timers no M ran in time (sysmon_run_timers, sched_timers.hpp);
//   - every 100 ms while checkdead holds a deadlock back because other
//     threads could still wake a goroutine, checks it again
//     (checkdead_recheck, run.hpp);
//   - with $GORO_DEBUG=stalls=MS, reports goroutines that ran MS ms without
//     a scheduling point (check_stalls, stall.hpp).
#ifndef GORO_DETAIL_SYSMON_HPP
#define GORO_DETAIL_SYSMON_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "sched.hpp"
#include "sched_timers.hpp"
#include "schedt.hpp"
#include "stall.hpp"
#include "tls.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <pthread.h>
#include <string>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::int64_t sysmon_min_sleep_ns = 20'000;          // Go: 20 us
inline constexpr std::int64_t sysmon_max_sleep_ns = 10'000'000;      // Go: 10 ms
inline constexpr std::int64_t force_preempt_ns = 10'000'000;         // Go: forcePreemptNS
inline constexpr std::int64_t netpoll_stale_ns = 10'000'000;         // Go: sysmon polls after 10 ms
inline constexpr std::int64_t sysmon_deep_sleep_ns = 1'000'000;      // a sleep this long is cut short by sysmon_kick
inline constexpr std::int64_t checkdead_recheck_ns = 100'000'000;    // a held-back deadlock is checked again this often (run.hpp)

// sysmon_kick: the caller's goroutine just entered blocking<handoff_lazy>.
// If sysmon is in a long sleep (it backs off to 10 ms when idle), wake it and
// make it poll at its shortest period again, so that the P is retaken within
// two short rounds (~40 us) if the call blocks, rather than after up to two
// 10 ms rounds (Go wakes sysmon only when it is fully parked; bench/blocking
// measured the difference). At most one wake-up per back-off cycle (~3 ms):
// the exchange lets one kicker through, and sysmon sets the flag again only
// once its sleep is long again. Any M.
inline void sysmon_kick(sched_t* s) noexcept {
  if (GORO_DETAIL_UNLIKELY(s->sysmon_deep.load(std::memory_order_relaxed)) && s->sysmon_deep.exchange(false, std::memory_order_relaxed))
    s->sysmon_note.wakeup();
}

// SIGQUIT ($GORO_DEBUG=sigquit=1): the handler only sets a flag (a dump
// allocates, which a signal handler must not); sysmon prints the dump of every
// run() runtime at its next round (within 10 ms). The process goes on.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED std::atomic<bool>& sigquit_pending() noexcept {
  static std::atomic<bool> flag{false};
  return flag;
}
GORO_DETAIL_COMPILED void install_sigquit_dump() {
  static const bool done = [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) { sigquit_pending().store(true, std::memory_order_release); };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGQUIT, &sa, nullptr);
    return true;
  }();
  (void)done;
}
#else
GORO_DETAIL_COMPILED std::atomic<bool>& sigquit_pending() noexcept;
GORO_DETAIL_COMPILED void install_sigquit_dump();
#endif  // GORO_DETAIL_DEFINE_COMPILED

// retake: one sysmon pass over the Ps; true if it took a P from a blocking
// call. Marking a G for preemption does not count (Go's retake counts only
// handoffs): a mark is made at most once per 10 ms per P, and had each one
// reset sysmon's back-off, a CPU-bound goroutine (or, on a loaded machine, an
// M the OS descheduled for 10 ms) would keep sysmon at its 20 us period, a
// wake-up and two context switches every ~50 us.
struct sysmon_rec {
  std::uint32_t schedtick = 0;
  std::int64_t schedwhen = 0;
  std::uint32_t syscalltick = 0;
  std::int64_t syscallwhen = 0;
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED bool retake(sched_t* s, std::int64_t now, std::vector<sysmon_rec>& recs) {
  bool acted = false;
  for (std::size_t i = 0; i < s->allp.size(); ++i) {
    p* pp = s->allp[i];
    sysmon_rec& r = recs[i];
    std::uint32_t st = pp->status.load(std::memory_order_acquire);
    if (st == p_running) {
      std::uint32_t t = pp->schedtick.load(std::memory_order_relaxed);
      if (r.schedtick != t) {
        r.schedtick = t;
        r.schedwhen = now;
      } else if (now - r.schedwhen >= force_preempt_ns) {
        pp->preempt.store(true, std::memory_order_relaxed);
        r.schedwhen = now;  // mark once per 10 ms
      }
    } else if (st == p_syscall) {
      std::uint32_t t = pp->syscalltick.load(std::memory_order_relaxed);
      if (r.syscalltick != t) {  // a new blocking call since last round: give it a round
        r.syscalltick = t;
        r.syscallwhen = now;
        continue;
      }
      // Go: keep the P with its M if there is nothing for it to do and other
      // Ms are spinning or Ps idle, unless the call has lasted 10 ms.
      if (pp->runq.empty() && s->nmspinning.load() + s->npidle.load() > 0 && now - r.syscallwhen < force_preempt_ns) continue;
      std::uint32_t expect = p_syscall;
      if (pp->status.compare_exchange_strong(expect, p_idle, std::memory_order_acq_rel)) {
        handoffp(s, pp);
        acted = true;
      }
    }
  }
  return acted;
}
#else
GORO_DETAIL_COMPILED bool retake(sched_t* s, std::int64_t now, std::vector<sysmon_rec>& recs);
#endif  // GORO_DETAIL_DEFINE_COMPILED

GORO_DETAIL_COMPILED std::string goroutine_dump(sched_t* s, bool cycle = false);  // run.hpp
GORO_DETAIL_COMPILED void checkdead_recheck(sched_t* s);       // run.hpp

#if GORO_DETAIL_DEFINE_COMPILED
// schedtrace prints Go's SCHED line ($GORO_DEBUG=schedtrace=MS).
GORO_DETAIL_COMPILED void schedtrace(sched_t* s, std::int64_t now) {
  std::int32_t threads, idlethreads;
  {
    rt_lock_guard lk(s->lock);
    threads = s->mcount;
    idlethreads = s->nmidle;
  }
  // snprintf, not std::string concatenation: g++ 12 at -O3 warns (-Wrestrict,
  // a false positive) on operator+ of strings, and users build with -Werror.
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "SCHED %lldms: gomaxprocs=%zu idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d runqueue=%d [",
                        static_cast<long long>((now - s->start_ns) / 1'000'000), s->allp.size(), s->npidle.load(), threads,
                        s->nmspinning.load(), idlethreads, s->runq_size.load());
  std::string line(buf, static_cast<std::size_t>(n > 0 ? n : 0));
  for (std::size_t i = 0; i < s->allp.size(); ++i) {
    n = std::snprintf(buf, sizeof buf, i ? " %u" : "%u", s->allp[i]->runq.size());
    line.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
  }
  line.append("]\n");
  write_err(line.c_str(), line.size());
}

GORO_DETAIL_COMPILED void sysmon(sched_t* s) {
  goro_thread_scope mine(s);
  std::vector<sysmon_rec> recs(s->allp.size());
  std::vector<stall_rec> stall_recs(s->stall_ns > 0 ? s->allp.size() : 0);
  std::int64_t delay = sysmon_min_sleep_ns;
  std::int64_t last_trace = nanotime();
  std::int64_t last_recheck = 0;
  int idle = 0;
  while (!s->sysmon_stop.load(std::memory_order_acquire)) {
    if (idle == 0) delay = sysmon_min_sleep_ns;
    else if (idle > 50) delay = std::min(delay * 2, sysmon_max_sleep_ns);
    bool deep = delay >= sysmon_deep_sleep_ns;
    if (deep) s->sysmon_deep.store(true, std::memory_order_relaxed);
    bool kicked = s->sysmon_note.sleep_for(delay);  // woken: by sysmon_kick (or by stop_ms)
    if (deep) s->sysmon_deep.store(false, std::memory_order_relaxed);
    s->sysmon_note.clear();
    if (s->sysmon_stop.load(std::memory_order_acquire)) break;
    std::int64_t now = nanotime();
    s->coarse_now.store(now, std::memory_order_relaxed);
    if (s->schedtrace_ns > 0 && now - last_trace >= s->schedtrace_ns) {
      last_trace = now;
      schedtrace(s, now);
    }
    if (sigquit_pending().load(std::memory_order_relaxed) && sigquit_pending().exchange(false, std::memory_order_acq_rel)) {
      std::string d = "goro: SIGQUIT: goroutine dump\n\n" + goroutine_dump(s);
      write_err(d.c_str(), d.size());
    }
    netpoller* np = s->np.load(std::memory_order_acquire);
    if (np != nullptr && s->netpoll_waiters.load(std::memory_order_relaxed) > 0 &&
        now - s->last_poll.load(std::memory_order_relaxed) > netpoll_stale_ns) {
      s->last_poll.store(now, std::memory_order_relaxed);
      // Counted as a plain thread in a goro call meanwhile: the goroutines
      // poll returns are off their fds' lists (netpoll_waiters no longer
      // counts them) and not queued yet, and checkdead, run by the last M to
      // go idle, would otherwise report a deadlock in between.
      plain_call_scope scope;
      injectglist(s, netpoll_ready(s, np, 0));
    }
    sysmon_run_timers(s, now);
    // A deadlock held back by threads that could still wake a goroutine: no
    // M goes idle again if the last of them leaves without waking anyone.
    if (s->dead_held_since.load(std::memory_order_relaxed) != 0 && now - last_recheck >= checkdead_recheck_ns) {
      last_recheck = now;
      checkdead_recheck(s);
    }
    bool acted = retake(s, now, recs);
    if (s->stall_ns > 0) acted |= check_stalls(s, now, stall_recs);
    idle = (acted || kicked) ? 0 : idle + 1;  // kicked: short rounds until the P is retaken
    if (s->schedtrace_ns > 0 && delay > s->schedtrace_ns * 1000) delay = s->schedtrace_ns * 1000;
  }
}

GORO_DETAIL_COMPILED void start_sysmon(sched_t* s) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(&s->sysmon_thread, &attr, [](void* a) -> void* { sysmon(static_cast<sched_t*>(a)); return nullptr; }, s);
  pthread_attr_destroy(&attr);
  if (rc != 0) fatal("start_sysmon: pthread_create failed");
}
#else
GORO_DETAIL_COMPILED void schedtrace(sched_t* s, std::int64_t now);
GORO_DETAIL_COMPILED void sysmon(sched_t* s);
GORO_DETAIL_COMPILED void start_sysmon(sched_t* s);
#endif  // GORO_DETAIL_DEFINE_COMPILED

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SYSMON_HPP
