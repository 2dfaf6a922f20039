// goro/run.hpp — a runtime from start to end: construction, checkdead (Go's
// deadlock detection), the shutdown that unwinds every goroutine when main
// returns, goroutine dumps, the stack-overflow report, and the public API of
// the runtime: run, go, yield, procs, num_goroutines, this_goroutine, debug.
//
// ---------------------------------------------------------------------------
// Unwinding at shutdown.
//
// When main returns (or checkdead reports a deadlock), run() sets sched.exiting
// and every live G must end, destructors run (docs/reference.md, "Runtime":
// goroutine_exit):
//   - a G not yet started is destroyed without running its body;
//   - a running G throws goroutine_exit from its next park or yield;
//   - a parked G is resumed with goroutine_exit thrown from its park. Its wait
//     record must first leave the object's queue, or a later waker would ready
//     it twice: g.cancel removes it under the object's lock, and only whoever
//     removes it readies it (a waker that dequeued it first readies it itself;
//     the G then completes that operation normally and is unwound at its next
//     blocking call, so no hand-off, such as a mutex's, is lost).
// The race between the unwinder's walk and a G that is parking right now is a
// Dekker pair (lock.hpp, "Asymmetric fences"): run_main stores
// exiting (seq_cst), heavy_fence, then unwind_all reads each G's status and
// parkstate; run_pending's park op stores status = waiting and parkstate =
// cancellable, light_fence, then reads exiting and, if set, cancels its own
// wait (try_cancel_park). Either the walk sees the parked G or the park op
// sees exiting; both may try, and the claim in parkstate plus the object's
// lock let only one cancel succeed.
// g.unwind keeps goroutine_exit from being thrown again while it is in flight
// or being handled on the G's stack: blocking calls made while it unwinds
// (destructors, `catch (...) { wg.wait(); throw; }`) work normally. A G that
// swallowed it (caught without rethrowing) gets it again at its next park or
// yield, so shutdown cannot hang on it: park decides, on the G's own C++
// exception state (exit_swallowed, park.hpp), before the switch, and marks the
// wait unwind_again; the park op's exiting check then cancels it as above,
// and park throws. g.exit_again counts those throws for the shutdown dump.
// Past its body (g_body) a G is unwind_done: its closure's destructors may block.
#ifndef GORO_DETAIL_RUN_HPP
#define GORO_DETAIL_RUN_HPP

#include "config.hpp"
#include "det.hpp"
#include "det_hooks.hpp"
#include "lock.hpp"
#include "park.hpp"
#include "runtime2.hpp"
#include "sched.hpp"
#include "sched_timers.hpp"
#include "schedt.hpp"
#include "stack.hpp"
#include "sysmon.hpp"
#include "tls.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// dump_after_ns: run() prints a dump after this long waiting at shutdown
// (docs/reference.md, "Runtime": 10 s). A variable only so that a test can
// shorten it; not an API.
inline std::atomic<std::int64_t> dump_after_ns{10'000'000'000};

// ---------------------------------------------------------------------------
// checkdead (Go: checkdead): is every goroutine of a run() runtime asleep for
// good? The rule (docs/reference.md, "Runtime": deadlock detection) is that a
// correct program never gets deadlock_error. The goroutines of s are asleep
// for good when both hold:
//   1. no M of s is running (none in blocking<> either), no G is queued, no
//      timer is pending and no G waits on an fd (all_asleep_locked: a few
//      loads, on the path of every M going idle);
//   2. no thread of the process could still ready one of them: no plain thread
//      is inside a goro call (plain_threads_in_goro; it also counts sysmon
//      while it readies what it fired or polled), and possible_wakers finds
//      none in /proc/self/task. Possible wakers: a thread goro did not create
//      (a std::thread of the program, another run's caller: it may wake a
//      goroutine at any time, from outside any goro call too), and the Ms and
//      sysmon of another runtime (another run, the default runtime) while that
//      runtime may still run a goroutine (runtime_may_run). Not wakers: the Ms
//      and sysmon of s (goro_thread_registry, sched.hpp, knows every runtime's
//      threads), the thread blocked in run() (s->run_tid), the threads of an
//      idle runtime, and TSan's own thread (blocks_every_signal).
//      Step 2 is taken only when step 1 holds.
// Why the scan is enough: a thread that is not an M of s queues the goroutine
// it readies under s->lock, held here, so a waker is still alive at the scan,
// and a thread started later has a parent alive now. 1 without 2 holds the
// report back (dead_held_since): no M may go idle again when the last waker
// leaves without waking anyone, so sysmon re-checks every checkdead_recheck_ns
// (checkdead_recheck) and reports the deadlock then. A plain thread feeding a
// channel in a tight loop makes nearly every M idle look like step 1, so the
// M-idle path scans at most once per checkdead_recheck_ns and otherwise leaves
// the scan to sysmon: a skipped scan only delays a report. A deadlock held back
// dead_held_report_ns with no goroutine run in between is printed once, with
// the number of possible wakers (docs/reference.md, "Messages written to
// stderr"), and goro keeps waiting. Called with s->lock held whenever an M goes
// idle (stopm, stoplockedm); run() is woken to report a deadlock (it builds the
// dump: nothing can change now).

inline constexpr std::int64_t dead_held_report_ns = 10'000'000'000;  // docs/reference.md, "Runtime"

// all_asleep_locked: step 1. Requires s->lock.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED bool all_asleep_locked(sched_t* s) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "all_asleep_locked: sched.lock not held");
  if (s->mcount - s->nmidle - s->nmidlelocked > 0) return false;
  if (s->runq_size.load(std::memory_order_relaxed) != 0) return false;
  for (p* pp : s->allp)
    if (!pp->runq.empty()) return false;
  // Timers and fd waiters are read seq_cst (timers_earliest is) and before
  // plain_threads_in_goro (step 2): sysmon fires timers and polls inside a
  // plain_call_scope, and a checker that sees the timer or the waiter gone
  // must then see sysmon counted.
  if (timers_earliest(s) != no_timer) return false;
  if (s->netpoll_waiters.load(std::memory_order_seq_cst) > 0) return false;  // an fd event may wake someone
  return true;
}

// runtime_may_run: whether another runtime r may still run a goroutine (and
// so wake one of ours): a P of r in use, a G queued, a timer pending, an fd
// waited on, or any live goroutine (a parked one runs again when something
// wakes it, or when its run unwinds it). The activity is read before the
// count, which could miss a goroutine that starts and ends meanwhile. Any
// thread; r stays alive while its threads are in goro_thread_registry.
GORO_DETAIL_COMPILED bool runtime_may_run(sched_t* r) noexcept {
  if (timers_earliest(r) != no_timer || r->netpoll_waiters.load(std::memory_order_seq_cst) > 0 ||
      r->runq_size.load(std::memory_order_seq_cst) != 0)
    return true;
  for (p* pp : r->allp)
    if (pp->status.load(std::memory_order_acquire) != p_idle) return true;
  return live_goroutines(r) > 0;
}

// list_threads appends the tids of the process's threads (/proc/self/task).
// false if it cannot be read. A 64 KiB buffer takes about 2,700 threads per
// getdents64 call: one call walks the kernel's thread list in one pass.
GORO_DETAIL_COMPILED bool list_threads(std::vector<pid_t>& out) {
  int fd = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<char> buf(64 * 1024);
  bool ok = true;
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    for (long off = 0; off + 19 < n;) {
      const char* d = buf.data() + off;
      unsigned short reclen;
      std::memcpy(&reclen, d + 16, sizeof reclen);
      if (reclen == 0) break;
      long tid = 0;
      const char* name = d + 19;
      for (; *name >= '0' && *name <= '9'; ++name) tid = tid * 10 + (*name - '0');
      if (*name == '\0' && tid > 0) out.push_back(static_cast<pid_t>(tid));  // skips "." and ".."
      off += reclen;
    }
  }
  ::close(fd);
  return ok;
}

// blocks_every_signal: whether thread tid blocks every signal it can, as
// TSan's own thread does (it starts one with the first pthread_create, with
// every signal blocked, and it carries no telling name: docs/design.md,
// "Toolchain notes"). TSan builds only; false if it cannot be read.
GORO_DETAIL_COMPILED bool blocks_every_signal(pid_t tid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  std::size_t len = 0;
  for (;;) {
    ssize_t r = ::read(fd, buf + len, sizeof buf - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += static_cast<std::size_t>(r);
    if (len == sizeof buf - 1) break;
  }
  ::close(fd);
  buf[len] = '\0';
  const char* at = std::strstr(buf, "\nSigBlk:");
  if (at == nullptr) return false;
  std::uint64_t mask = std::strtoull(at + 8, nullptr, 16);
  constexpr std::uint64_t every = 0x3ffbfeffull;  // signals 1-30, except SIGKILL (9) and SIGSTOP (19), which cannot be blocked
  return (mask & every) == every;
}

// possible_wakers counts the threads that could still ready a goroutine of s
// (step 2 of checkdead); 1 when it cannot tell (no /proc: a deadlock is then
// held back for good). Requires s->lock (taken before the registry's lock).
GORO_DETAIL_COMPILED int possible_wakers(sched_t* s) noexcept {
  int saved_errno = errno;
  int n = 0;
  try {
    std::vector<pid_t> tids;
    if (!list_threads(tids)) {
      n = 1;
    } else {
      goro_threads& r = goro_thread_registry();
      rt_lock_guard lk(r.lock);
      r.forget_parent_locked();
      // TSan's thread: it exists from the first pthread_create on (sysmon's
      // at the latest). A program's thread may block every signal too, so
      // one such thread at most is TSan's. (ASan starts a thread only with
      // options like hard_rss_limit_mb; it cannot be told from a program's,
      // so it counts: the report is held back.)
      bool sanitizer_seen = !GORO_TSAN;
      for (pid_t tid : tids) {
        if (tid == s->run_tid) continue;
        auto it = r.tids.find(tid);
        if (it != r.tids.end()) {
          if (it->second != s && runtime_may_run(it->second)) ++n;
          continue;
        }
        if (!sanitizer_seen && blocks_every_signal(tid)) {
          sanitizer_seen = true;
          continue;
        }
        ++n;
      }
    }
  } catch (...) {  // std::bad_alloc: cannot tell
    n = 1;
  }
  errno = saved_errno;
  return n;
}

// goroutine_switches: switches into goroutines of s so far (a held-back
// deadlock whose count moved was not asleep all along).
GORO_DETAIL_COMPILED std::uint64_t goroutine_switches(sched_t* s) noexcept {
  std::uint64_t n = 0;
  for (p* pp : s->allp) n += pp->scheduled.load(std::memory_order_relaxed);
  return n;
}

// checkdead_step2_locked: step 1 holds; hold the report back or make it.
// force: scan now (sysmon), else at most once per checkdead_recheck_ns.
GORO_DETAIL_COMPILED void checkdead_step2_locked(sched_t* s, bool force) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "checkdead_step2_locked: sched.lock not held");
  std::int64_t now = nanotime();
  if (s->dead_held_since.load(std::memory_order_relaxed) == 0) {
    s->dead_held_since.store(now, std::memory_order_relaxed);
    s->dead_held_progress = goroutine_switches(s);
  }
  bool in_goro = plain_threads_in_goro.load(std::memory_order_seq_cst) > 0;
  if (!force && (in_goro || (s->dead_last_scan != 0 && now - s->dead_last_scan < checkdead_recheck_ns))) return;
  s->dead_last_scan = now;
  int n = possible_wakers(s);
  // Confirm a zero: a thread that exits while the directory is read in
  // several calls can hide another.
  if (n == 0 && !in_goro) n = possible_wakers(s);
  s->dead_wakers = n;
  if (n > 0 || in_goro || plain_threads_in_goro.load(std::memory_order_seq_cst) > 0) return;
  s->dead_held_since.store(0, std::memory_order_relaxed);
  s->deadlocked.store(true, std::memory_order_release);
  s->done.wakeup();
}

GORO_DETAIL_COMPILED void checkdead_locked(sched_t* s) noexcept {
  GORO_DETAIL_DCHECK(s->lock.held(), "checkdead_locked: sched.lock not held");
  if (s->is_default || s->main_done.load(std::memory_order_relaxed) || s->deadlocked.load(std::memory_order_relaxed) ||
      s->exiting.load(std::memory_order_relaxed))
    return;
  if (!all_asleep_locked(s)) return;
  checkdead_step2_locked(s, false);
}

// checkdead_recheck: sysmon, every checkdead_recheck_ns while a deadlock is
// held back (dead_held_since set). Prints the report of a deadlock held back
// for dead_held_report_ns, once.
GORO_DETAIL_COMPILED void checkdead_recheck(sched_t* s) {
  int wakers = 0;
  {
    rt_lock_guard lk(s->lock);
    if (s->main_done.load(std::memory_order_relaxed) || s->deadlocked.load(std::memory_order_relaxed) ||
        s->exiting.load(std::memory_order_relaxed) || !all_asleep_locked(s)) {
      s->dead_held_since.store(0, std::memory_order_relaxed);  // an M idle later checks again
      return;
    }
    std::uint64_t switches = goroutine_switches(s);
    if (switches != s->dead_held_progress) {  // a goroutine ran since: asleep again only now
      s->dead_held_since.store(nanotime(), std::memory_order_relaxed);
      s->dead_held_progress = switches;
    }
    checkdead_step2_locked(s, true);
    std::int64_t since = s->dead_held_since.load(std::memory_order_relaxed);
    if (since == 0 || s->dead_held_dumped || nanotime() - since < dead_held_report_ns) return;
    s->dead_held_dumped = true;
    wakers = s->dead_wakers;
  }
  char head[96];
  int len = std::snprintf(head, sizeof head, "goro: all goroutines are asleep while %d other thread(s) exist\n\n", wakers);
  std::string d(head, static_cast<std::size_t>(len > 0 ? len : 0));
  d += goroutine_dump(s);
  write_err(d.c_str(), d.size());
}

// ---------------------------------------------------------------------------
// Stack overflow: the SIGSEGV hook that stack.hpp's handler calls (stack.hpp,
// "Overflow report").

// stack_overflow_message prints the report for gp (docs/reference.md,
// "Runtime"). Async-signal-safe.
GORO_DETAIL_COMPILED void stack_overflow_message(g* gp) noexcept {
  char buf[24];
  write_err("fatal error: stack overflow in goroutine ");
  write_err(fmt_u64(buf, gp->id));
  write_err(" (stack_size ");
  // The configured size, not the slot's (rounded up to stack.hpp's page_size,
  // 64 KiB on AArch64).
  std::uint64_t size = gp->sched != nullptr ? gp->sched->cfg.stack_size : static_cast<std::uint64_t>(gp->stack.hi - gp->stack.lo);
  write_err(fmt_u64(buf, size));
  write_err(", created at ");
  write_err(gp->site.file);
  write_err(":");
  write_err(fmt_u64(buf, gp->site.line));
  write_err(")\n");
}

[[noreturn]] GORO_DETAIL_COMPILED void stack_overflow_fatal(g* gp) noexcept {
  stack_overflow_message(gp);
  std::abort();
}

// overflow_check is the SIGSEGV hook: is addr in the running goroutine's guard?
GORO_DETAIL_COMPILED bool overflow_check(void* addr) noexcept {
  m* mp = __atomic_load_n(&tls_m, __ATOMIC_RELAXED);  // a signal handler runs on the faulting thread: no switch in between
  if (mp == nullptr || mp->curg == nullptr) return false;
  g* gp = mp->curg;
  char* a = static_cast<char*>(addr);
  if (a >= gp->stack.lo || a < gp->stack.lo - stack_guard_size) return false;
  stack_overflow_message(gp);
  return true;
}

// ---------------------------------------------------------------------------
// Start-up: a runtime's construction and destruction.

GORO_DETAIL_COMPILED unsigned procs_from(const config& c) {
  if (c.procs != 0) return c.procs;
  if (const char* env = std::getenv("GORO_MAXPROCS")) {
    long v = std::strtol(env, nullptr, 10);
    if (v > 0 && v <= static_cast<long>(max_procs)) return static_cast<unsigned>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return std::clamp(hw, 1u, max_procs);
}

GORO_DETAIL_COMPILED sched_t::sched_t(const config& c, bool dflt) : cfg(c), is_default(dflt), pool(&pool_for(c.stack_size)) {
  cfg.procs = procs_from(c);
  overflow_hook.store(&overflow_check, std::memory_order_release);
  install_overflow_handler();
  (void)membarrier_ok();  // register once, before any goroutine needs heavy_fence
  allp.resize(cfg.procs);
  for (unsigned i = 0; i < cfg.procs; ++i) {
    p* pp = new p();
    pp->id = static_cast<int>(i);
    pp->sched = this;
    pp->fastrand = 0x2545F491u * (i + 1);
    allp[i] = pp;
  }
  {
    rt_lock_guard lk(lock);  // nobody else can see this runtime yet; taken so the idle list's invariant holds everywhere
    for (unsigned i = cfg.procs; i-- > 0;) pidleput_locked(this, allp[i]);
  }
  if constexpr (!deterministic) {  // one thread runs everything: no sysmon, no dumps from signals
    if (!dflt) run_tid = current_tid();  // checkdead: the thread about to block in run() wakes nobody
    std::string trace = debug_setting("schedtrace");
    if (!trace.empty()) schedtrace_ns = std::max(1L, std::atol(trace.c_str())) * 1'000'000;
    if (debug_setting("sigquit") == "1") install_sigquit_dump();
    if (!dflt) {
      std::string path = debug_setting("trace");
      if (!path.empty()) trace_start(this, path);
    }
    std::string stalls = debug_setting("stalls");
    if (!stalls.empty() && std::atol(stalls.c_str()) > 0) {
      stall_ns = std::atol(stalls.c_str()) * 1'000'000;
      install_stall_handler();
    }
    tracebacks_on.store(debug_setting("tracebacks") == "1", std::memory_order_relaxed);  // see park_capture
    start_sysmon(this);
  }
}

GORO_DETAIL_COMPILED sched_t::~sched_t() {
  // A plain thread (or another runtime's M) that readied the last goroutine
  // may still be in its wakep (park.hpp, ready): a few instructions.
  while (foreign_readies.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  delete np.load(std::memory_order_relaxed);
  delete trace;  // nullptr unless a run ended without trace_finish (an exception from run()'s start-up)
  for (p* pp : allp) {
    pool->put(pp->gfree, pp->ngfree);
    delete pp;
  }
  for (m* mp = allm; mp != nullptr;) {
    m* next = mp->alllink;
    delete mp;
    mp = next;
  }
}


// ---------------------------------------------------------------------------
// Shutdown: dumps, unwinding, stopping the Ms.

// goroutine_dump lists the live goroutines of s, Go-style. Reads other Gs'
// fields racily when the world is not stopped: for diagnostics only.
GORO_DETAIL_COMPILED std::string goroutine_dump(sched_t* s, bool cycle) {
  // Deterministic mode: the run's own list (a slot may still hold a G of an
  // earlier run whose runtime was at the same address).
  if constexpr (deterministic) return det_dump(s, cycle);
  std::string out;
  std::int64_t now = nanotime();
  dump_ctx ctx;
  s->pool->space().for_each_slot([&](char* top) {
    g* gp = g_pool::g_at_top(top);
    if (gp->sched != s || gp->status.load(std::memory_order_acquire) == gstatus::dead) return;
    ctx.gs.push_back(gp);
  });
  std::sort(ctx.gs.begin(), ctx.gs.end(), [](const g* a, const g* b) { return a->id < b->id; });
  if (cycle) {
    out = wait_cycle(ctx);
    if (!out.empty()) out += '\n';
  }
  bool parked = false;
  for (const g* cgp : ctx.gs) {
    g* gp = const_cast<g*>(cgp);
    gstatus st = gp->status.load(std::memory_order_acquire);
    if (st == gstatus::dead) continue;
    std::string state;
    wait_reason why = gp->why.load(std::memory_order_relaxed);
    if (st == gstatus::waiting && why != wait_reason::none) {
      parked = true;
      state = wait_reason_name(why);
      // How long blocked, at sysmon's resolution (Go prints minutes; seconds help more here).
      std::int64_t since = gp->wait_since.load(std::memory_order_relaxed);
      std::int64_t secs = since != 0 ? (now - since) / 1'000'000'000 : 0;
      if (secs >= 120) state += ", " + std::to_string(secs / 60) + " minutes";
      else if (secs >= 1) state += ", " + std::to_string(secs) + " s";
    } else {
      state = gstatus_name(st);
    }
    std::uint8_t u = gp->unwind.load(std::memory_order_relaxed);
    if (u == unwind_thrown || u == unwind_again) state += ", unwinding";  // goroutine_exit was thrown in it
    dump_goroutine(out, gp, state, &ctx);
  }
  if (symbolize_degraded()) out += degraded_note();
  if (!deterministic && parked && !tracebacks_on.load(std::memory_order_relaxed))
    out += "(GORO_DEBUG=tracebacks=1 adds the line each one is blocked at)\n";
  return out;
}

// swallowed_report names the live goroutines of s that swallowed
// goroutine_exit (caught it without rethrowing; each got it again at a park or
// yield: g.exit_again), for the shutdown dump. Where it was caught is not
// known: the report gives the goroutine's creation site.
GORO_DETAIL_COMPILED std::string swallowed_report(sched_t* s) {
  std::string out;
  char buf[24];
  s->pool->space().for_each_slot([&](char* top) {
    g* gp = g_pool::g_at_top(top);
    if (gp->sched != s || gp->status.load(std::memory_order_acquire) == gstatus::dead) return;
    std::uint32_t n = gp->exit_again.load(std::memory_order_relaxed);
    if (n == 0) return;
    out += "goroutine ";
    out += fmt_u64(buf, gp->id);
    out += " swallowed goroutine_exit at an unknown site (the goroutine was created at ";
    out += gp->site.file;
    out += ":";
    out += fmt_u64(buf, gp->site.line);
    out += "); thrown again ";
    out += fmt_u64(buf, n);
    out += n == 1 ? " time\n" : " times\n";
  });
  return out;
}

// unwind_all resumes every parked goroutine of s with goroutine_exit. See
// "Unwinding at shutdown" (and "Claiming a parked G" in park.hpp).
GORO_DETAIL_COMPILED void unwind_all(sched_t* s) {
  std::vector<g*> parked;
  s->pool->space().for_each_slot([&](char* top) {
    g* gp = g_pool::g_at_top(top);
    // Only atomics here: the slot may be changing hands (try_cancel_park
    // checks the rest once it holds a claim).
    if (gp->status.load(std::memory_order_acquire) == gstatus::waiting &&
        gp->parkstate.load(std::memory_order_acquire) == park_cancellable)
      parked.push_back(gp);
  });
  for (g* gp : parked) try_cancel_park(gp, s);
}

// stop_ms ends every M of s and joins their threads. The caller (run) has
// seen every goroutine exit.
GORO_DETAIL_COMPILED void stop_ms(sched_t* s) {
  std::vector<m*> ms;
  {
    rt_lock_guard lk(s->lock);
    s->stopping = true;
    for (m* mp = s->allm; mp != nullptr; mp = mp->alllink) ms.push_back(mp);
  }
  for (m* mp : ms) mp->park.wakeup();
  if (netpoller* np = s->np.load(std::memory_order_acquire)) np->wake();
  for (m* mp : ms) pthread_join(mp->thread, nullptr);
  s->sysmon_stop.store(true, std::memory_order_release);
  s->sysmon_note.wakeup();
  pthread_join(s->sysmon_thread, nullptr);
  stop_stall_reporter(s);  // after sysmon, its only producer: prints what is queued
}

// run_main is run()'s body once the main goroutine is queued: wait for main
// (or a deadlock), unwind the rest, wait for them, stop the Ms, then report.
GORO_DETAIL_COMPILED void run_main(sched_t* s) {
  for (;;) {
    s->done.sleep();
    s->done.clear();
    if (s->main_done.load(std::memory_order_acquire) || s->deadlocked.load(std::memory_order_acquire)) break;
  }
  std::string report;
  if (s->deadlocked.load(std::memory_order_acquire) && !s->main_done.load(std::memory_order_acquire))
    report = "all goroutines are asleep - deadlock!\n\n" + goroutine_dump(s, true);
  s->exiting.store(true, std::memory_order_seq_cst);
  heavy_fence();  // see "Unwinding at shutdown"
  unwind_all(s);
  std::int64_t dump_at = nanotime() + dump_after_ns.load(std::memory_order_relaxed);
  for (;;) {
    s->done.clear();
    heavy_fence();  // pairs with goexit's light_fence
    if (live_goroutines(s) == 0) break;
    std::int64_t left = dump_at - nanotime();
    if (left <= 0) {
      std::string sw = swallowed_report(s);
      std::string d = "goro: main returned; still waiting for these goroutines to finish:\n\n" + (sw.empty() ? sw : sw + "\n") +
                      goroutine_dump(s);
      write_err(d.c_str(), d.size());
      dump_at = nanotime() + dump_after_ns.load(std::memory_order_relaxed);
      continue;
    }
    s->done.sleep_for(left);
  }
  stop_ms(s);
  trace_finish(s);  // every M has stopped: the trace's rings are complete
  s->pool->scavenge(true);
  if (!report.empty()) throw deadlock_error(report);
}
#else
GORO_DETAIL_COMPILED bool all_asleep_locked(sched_t* s) noexcept;
GORO_DETAIL_COMPILED bool runtime_may_run(sched_t* r) noexcept;
GORO_DETAIL_COMPILED bool blocks_every_signal(pid_t tid) noexcept;
GORO_DETAIL_COMPILED int possible_wakers(sched_t* s) noexcept;
GORO_DETAIL_COMPILED void checkdead_recheck(sched_t* s);
GORO_DETAIL_COMPILED std::string goroutine_dump(sched_t* s, bool cycle);
GORO_DETAIL_COMPILED void unwind_all(sched_t* s);
GORO_DETAIL_COMPILED void stop_ms(sched_t* s);
GORO_DETAIL_COMPILED void run_main(sched_t* s);
#endif  // GORO_DETAIL_DEFINE_COMPILED

}  // namespace detail

// ---------------------------------------------------------------------------
// Public API (docs/reference.md, "Runtime").

// run runs main_fn as the main goroutine of a new runtime and returns when it
// has returned and every other goroutine has been unwound.
template <class F>
void run(F&& main_fn, config cfg = {}, detail::source_loc site = detail::source_loc::here()) {
  detail::validate(cfg);
  detail::m* mp = detail::getm();
  if (mp != nullptr) throw std::logic_error("goro::run: called from inside a goroutine");
  if constexpr (detail::deterministic) {
    detail::det_run(std::forward<F>(main_fn), cfg, site, detail::det_input{});
    return;
  }
  std::unique_ptr<detail::sched_t> s(new detail::sched_t(cfg, false));
  detail::newproc(s.get(), detail::closure<F>{std::forward<F>(main_fn), {}}, site, true);
  detail::run_main(s.get());
  std::exception_ptr e = s->main_exception;
  s.reset();
  if (e) std::rethrow_exception(e);
}

// go spawns a goroutine running std::invoke(f, args...) on decay-copies of f
// and args, invoked as rvalues (like std::thread). The creation site (for
// dumps and reports) is a defaulted parameter after the arguments, so there
// is one overload per arity, up to 8 arguments after f; more is a compile
// error, never a lost site.
template <class F>
void go(F&& f, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f));
}
template <class F, class A1>
void go(F&& f, A1&& a1, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1));
}
template <class F, class A1, class A2>
void go(F&& f, A1&& a1, A2&& a2, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
}
template <class F, class A1, class A2, class A3>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
}
template <class F, class A1, class A2, class A3, class A4>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
}
template <class F, class A1, class A2, class A3, class A4, class A5>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
}
template <class F, class A1, class A2, class A3, class A4, class A5, class A6>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6));
}
template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7));
}
template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, A8&& a8, detail::source_loc site = detail::source_loc::here()) {
  detail::go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7), std::forward<A8>(a8));
}
template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8, class A9, class... More>
void go(F&&, A1&&, A2&&, A3&&, A4&&, A5&&, A6&&, A7&&, A8&&, A9&&, More&&...) {
  static_assert(detail::always_false<F>, "goro: go takes at most 8 arguments after the callable "
                "(the creation site is a defaulted parameter after them); pass more in a struct or a lambda's captures");
}

// yield lets other goroutines run (Go: runtime.Gosched). On a plain thread it
// yields the thread.
inline void yield() {
  detail::m* mp = detail::getm();
  if (mp == nullptr || mp->curg == nullptr) {
    std::this_thread::yield();
    return;
  }
  detail::g* gp = mp->curg;
  if (gp->in_blocking != 0) {  // inside blocking<>: the M has no P to schedule on
    std::this_thread::yield();
    return;
  }
  if constexpr (detail::deterministic) {
    detail::det_point(true);
  } else {
    detail::rt_region rt;
    detail::unwind_point(gp);
    mp->pending = detail::pending_op{detail::pending_kind::yield, gp, nullptr, nullptr};
    detail::schedule(mp, gp);
  }
}

// procs is GOMAXPROCS of the calling goroutine's runtime (or the default one).
inline unsigned procs() { return detail::current_sched()->cfg.procs; }

// num_goroutines counts live user goroutines, main included.
inline std::size_t num_goroutines() {
  std::int64_t n = detail::live_goroutines(detail::current_sched());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

namespace this_goroutine {

// id is the calling goroutine's id, 0 on a plain OS thread.
inline std::uint64_t id() noexcept {
  detail::m* mp = detail::getm();
  return (mp != nullptr && mp->curg != nullptr) ? mp->curg->id : 0;
}

// set_label names the calling goroutine (Go's pprof labels, one string): the
// label appears in its dump entries ("\tlabel: L"), stall reports and trace
// slices, until the next set_label or the goroutine's exit. An empty label
// removes it. On a plain OS thread (which is no goroutine) it does nothing,
// like lock_os_thread. Any goroutine, for itself; safe while other threads
// dump (see goroutine_label, runtime2.hpp).
inline void set_label(std::string_view label) {
  detail::m* mp = detail::getm();
  if (mp == nullptr || mp->curg == nullptr) return;
  detail::rt_region rt;  // deterministic mode under TSan: the label's lock is no happens-before edge
  detail::set_goroutine_label(mp->curg, label);
  if (GORO_DETAIL_UNLIKELY(detail::tracing(mp->sched))) detail::trace_set_label(mp->sched, mp->curg, label);
}

// label is the calling goroutine's label, "" if none or on a plain OS thread.
inline std::string label() {
  detail::m* mp = detail::getm();
  if (mp == nullptr || mp->curg == nullptr) return {};
  detail::rt_region rt;
  return detail::goroutine_label(mp->curg);
}

// lock_os_thread wires the calling goroutine to its current M: it runs only
// there, and the M runs nothing else, until as many unlock_os_thread calls.
// A goroutine that exits while locked takes its thread with it (Go does too).
// No-op on a plain OS thread.
inline void lock_os_thread() noexcept {
  detail::m* mp = detail::getm();
  if (mp == nullptr || mp->curg == nullptr) return;
  detail::g* gp = mp->curg;
  if (gp->locked_count++ == 0) {
    gp->lockedm = mp;
    mp->lockedg = gp;
  }
}

inline void unlock_os_thread() noexcept {
  detail::m* mp = detail::getm();
  if (mp == nullptr || mp->curg == nullptr) return;
  detail::g* gp = mp->curg;
  if (gp->locked_count == 0) return;
  if (--gp->locked_count == 0) {
    gp->lockedm = nullptr;
    mp->lockedg = nullptr;
  }
}

}  // namespace this_goroutine

// debug: scheduler introspection for demos, tests and tuning
// (docs/reference.md, "Diagnostics").
namespace debug {

struct proc_stats {
  unsigned id;
  std::uint64_t created;    // goroutines spawned on this P
  std::uint64_t scheduled;  // switches into a goroutine
  std::uint64_t steals;     // successful steals by this P
  std::uint64_t stolen;     // goroutines those steals took
  std::uint32_t runq;       // local run queue length now
};

struct sched_stats {
  unsigned procs;
  unsigned threads;          // Ms started so far
  std::uint32_t global_runq; // global run queue length now
  std::vector<proc_stats> p;
};

// stats samples the counters of the calling goroutine's runtime.
inline sched_stats stats() {
  detail::sched_t* s = detail::current_sched();
  sched_stats out{s->cfg.procs, 0, static_cast<std::uint32_t>(s->runq_size.load(std::memory_order_relaxed)), {}};
  {
    detail::rt_lock_guard lk(s->lock);
    out.threads = static_cast<unsigned>(s->mnext);
  }
  for (detail::p* pp : s->allp)
    out.p.push_back(proc_stats{static_cast<unsigned>(pp->id), pp->created.load(std::memory_order_relaxed),
                               pp->scheduled.load(std::memory_order_relaxed), pp->steals.load(std::memory_order_relaxed),
                               pp->stolen.load(std::memory_order_relaxed), pp->runq.size()});
  return out;
}

// current_p / current_m: the P and M running the caller, -1 on a plain thread.
inline int current_p() noexcept {
  detail::m* mp = detail::getm();
  return (mp != nullptr && mp->pp != nullptr) ? mp->pp->id : -1;
}
inline int current_m() noexcept {
  detail::m* mp = detail::getm();
  return mp != nullptr ? mp->id : -1;
}

// dump: a Go-style list of the live goroutines of the calling goroutine's
// runtime (id, state, wait reason, how long blocked, creation site).
inline std::string dump() {
  detail::rt_region rt;  // deterministic mode under TSan: reading labels under their locks is no happens-before edge
  return detail::goroutine_dump(detail::current_sched());
}

// stack_guard names the stack guard in use ("MADV_GUARD_INSTALL" or the fallback).
inline const char* stack_guard() { return detail::stack_guard_name(); }

}  // namespace debug

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_RUN_HPP
