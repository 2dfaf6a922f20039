// goro/stall.hpp — stall reports ($GORO_DEBUG=stalls=MS): a goroutine that
// runs MS milliseconds without a scheduling point gets one report on stderr,
// with its thread's stack at that moment. Threaded mode only (sysmon runs it;
// a deterministic run has no sysmon, and no time passes while a goroutine runs).
//
// ---------------------------------------------------------------------------
// Stall reports.
//
// Detection (sysmon, check_stalls, every round): a P whose status is running
// and whose `scheduled` and `syscalltick` counters have not moved for MS
// milliseconds has run one G all that time (every switch into a G counts in
// `scheduled`, the runnext hand-offs that keep `schedtick` too; blocking<>
// counts in `syscalltick`). A G that makes goro calls is not stalled: sysmon
// then raises the P's preempt flag (as retake does after 10 ms) and waits
// stall_probe_ns; a goro call reaching safe_point takes the flag and switches.
// Still set after that: the G is stalled.
//
// Capture. sysmon writes the G it expects (p.curg) into the M's
// stall_capture, moves its state idle -> requested, and sends stall_signal to
// the M's thread (rt_tgsigqueueinfo with SI_QUEUE and stall_cookie, so the
// handler tells goro's requests from the program's own SIGURGs, which it
// passes on to the handler installed before goro's). The handler runs on that
// thread, on the M's signal stack: it claims the request (requested ->
// writing), checks that the M still runs the expected G, and captures the
// stack with capture_traceback (no allocation, no lock: async-signal-safe),
// then publishes it (done, release). It cuts off its own frames and the
// signal trampoline: the stack starts at the interrupted instruction (the
// ucontext's PC). sysmon (not the handler) copies the stack, returns the
// capture to idle and queues the report; the runtime's stall_reporter thread
// symbolizes and prints it.
//
// If the handler has not run within stall_capture_wait_ns, sysmon takes the
// request back (requested -> idle: a late handler then finds nothing to do)
// and prints the report without the stack. That happens under TSan, which
// holds a signal until the thread enters an intercepted call; a thread that
// spins in code calling none never takes it.
//
// One report per stall: the P's record is marked reported until its counters
// move (the G passed a scheduling point), so it stalls anew only after that.
//
// The signal: SIGURG, as Go's preemption (Go: preemptM, signal_unix.go): its
// default action is to ignore it, so a stray one harms nobody, and few
// programs use it (out-of-band socket data). The handler is installed only
// when stalls is set (the first runtime that has it); the program's own
// handler keeps getting every SIGURG that goro did not send. Cost: nothing
// when stalls is unset (sysmon skips check_stalls, no handler); when set, a
// few loads per P per sysmon round, and one signal and one symbolization per
// stall.
#ifndef GORO_DETAIL_STALL_HPP
#define GORO_DETAIL_STALL_HPP

#include "config.hpp"
#include "runtime2.hpp"
#include "sched.hpp"
#include "schedt.hpp"
#include "tls.hpp"
#include "traceback.hpp"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr int stall_signal = SIGURG;
inline constexpr int stall_cookie = 0x676f726f;                   // "goro": si_value of goro's requests
inline constexpr std::int64_t stall_probe_ns = 1'000'000;         // a G making goro calls takes the preempt flag well within 1 ms
inline constexpr std::int64_t stall_capture_wait_ns = 100'000'000;  // how long sysmon waits for the handler

// stall_capture states (runtime2.hpp).
inline constexpr std::uint32_t stall_idle = 0, stall_requested = 1, stall_writing = 2, stall_done = 3;

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED struct sigaction& stall_old_action() noexcept {
  static struct sigaction old {};
  return old;
}

// stall_interrupted_pc: the PC the signal interrupted, from the handler's
// ucontext; 0 where unknown.
GORO_DETAIL_COMPILED std::uintptr_t stall_interrupted_pc(void* uctx) noexcept {
  if (uctx == nullptr) return 0;
  auto* uc = static_cast<ucontext_t*>(uctx);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#else
  (void)uc;
  return 0;
#endif
}

// stall_handler: stall_signal's handler. Async-signal-safe (see "Stall
// reports" above). Any thread: a request is taken only on an M.
GORO_DETAIL_COMPILED void stall_handler(int sig, siginfo_t* info, void* uctx) {
  int saved_errno = errno;
  bool ours = info != nullptr && info->si_code == SI_QUEUE && info->si_pid == ::getpid() && info->si_value.sival_int == stall_cookie;
  if (!ours) {
    // The program's own: hand it to the handler it installed, if any (SIGURG's
    // default is to ignore it).
    struct sigaction& old = stall_old_action();
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction != nullptr) old.sa_sigaction(sig, info, uctx);
    else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr)
      old.sa_handler(sig);
    errno = saved_errno;
    return;
  }
  m* mp = __atomic_load_n(&tls_m, __ATOMIC_RELAXED);  // this thread's, read in its own handler
  if (mp != nullptr) {
    stall_capture& c = mp->stall;
    std::uint32_t expect = stall_requested;
    // acquire: pairs with sysmon's release of the request (c.expect).
    if (c.state.compare_exchange_strong(expect, stall_writing, std::memory_order_acquire, std::memory_order_relaxed)) {
      c.found = c.expect != nullptr && __atomic_load_n(&mp->curg, __ATOMIC_RELAXED) == c.expect;
      c.trimmed = false;
      c.tb.n = 0;
      if (c.found) {
        capture_traceback(c.tb);
        // Cut the handler's frames and the trampoline: start at the
        // interrupted frame, whose PC the unwinder reports exactly.
        std::uintptr_t pc = stall_interrupted_pc(uctx);
        for (std::uint32_t i = 0; pc != 0 && i < c.tb.n; ++i)
          if (c.tb.pc[i] == pc) {
            std::memmove(c.tb.pc, c.tb.pc + i, (c.tb.n - i) * sizeof c.tb.pc[0]);
            c.tb.n -= i;
            c.trimmed = true;
            break;
          }
      }
      c.state.store(stall_done, std::memory_order_release);  // pairs with sysmon's acquire in finish_stall
    }
  }
  errno = saved_errno;
}

// install_stall_handler: once per process, when the first runtime with
// stalls set starts. Chains to the handler installed before it.
GORO_DETAIL_COMPILED void install_stall_handler() {
  static const bool done = [] {
    traceback_warm_up();  // the unwinder's one-time set-up, outside any handler
    struct sigaction sa {};
    sa.sa_sigaction = &stall_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;  // ONSTACK: each M's alt_stack, not a small goroutine stack
    sigemptyset(&sa.sa_mask);
    ::sigaction(stall_signal, &sa, &stall_old_action());
    return true;
  }();
  (void)done;
}

// stall_send: sends goro's stall request signal to thread tid of this process.
GORO_DETAIL_COMPILED bool stall_send(pid_t tid) noexcept {
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = stall_signal;
  si.si_code = SI_QUEUE;
  si.si_pid = ::getpid();
  si.si_uid = ::getuid();
  si.si_value.sival_int = stall_cookie;
  return ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, stall_signal, &si) == 0;
}
#else
GORO_DETAIL_COMPILED void install_stall_handler();
GORO_DETAIL_COMPILED bool stall_send(pid_t tid) noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

// stall_rec: sysmon's record of one P for stall reports. sysmon only.
struct stall_rec {
  std::uint64_t scheduled = 0;   // the P's counters when last seen moving
  std::uint32_t syscalltick = 0;
  std::int64_t since = 0;        // when they last moved
  std::int64_t probe = 0;        // when sysmon raised the preempt flag to probe, 0 if not yet
  bool reported = false;         // this stall was reported (or found to be none)
  m* sent_to = nullptr;          // a request is out to this M
  std::int64_t sent = 0;         // when
  std::int64_t ran_ns = 0;       // how long the G had run then
  const g* gp = nullptr;         // the G, as p.curg named it
};

#if GORO_DETAIL_DEFINE_COMPILED
// stall_skip_frame: frames above the interrupted one that the trim could not
// cut (a signal delivered late under TSan runs the handler from its runtime).
GORO_DETAIL_COMPILED bool stall_skip_frame(const frame& f) noexcept {
  std::string_view fn(f.function);
  return fn.find("__tsan") != std::string_view::npos || fn.find("__interceptor") != std::string_view::npos ||
         fn.find("__sanitizer") != std::string_view::npos || fn.find("ScopedInterceptor") != std::string_view::npos ||
         fn.find("::detail::stall_") != std::string_view::npos || fn.find("__restore_rt") != std::string_view::npos;
}
#else
GORO_DETAIL_COMPILED bool stall_skip_frame(const frame& f) noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

// stall_reporter: the thread that symbolizes and prints stall reports, so
// that sysmon never waits for addr2line (hundreds of milliseconds on a large
// binary with debug info). One per runtime, started by sysmon at the first
// stall, registered as one of goro's threads (checkdead does not count it as
// a possible waker), ended by stop_ms after sysmon (it prints what is queued
// first). Its queue is guarded by mu.
struct stall_reporter {
  struct item {
    std::string head;            // the report's first line, with its newline
    bool has_stack = false;
    bool trimmed = false;
    traceback tb;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<item> queue;       // mu
  bool stop = false;             // mu
  std::thread thread;
};

#if GORO_DETAIL_DEFINE_COMPILED
// stall_format_stack appends the stack of a report, Go-style: every frame
// from the interrupted one to the program's innermost own frame (the library
// code it was in), then the program's own frames. Any thread but a signal
// handler: symbolizing allocates and may spawn addr2line.
GORO_DETAIL_COMPILED void stall_format_stack(std::string& out, const traceback& tb, bool trimmed) {
  std::vector<frame> fs = symbolize(tb.pc, tb.n);
  std::size_t i = 0;
  if (!trimmed)
    while (i < fs.size() && stall_skip_frame(fs[i])) ++i;
  // The innermost own frame: one with debug info (the vDSO's frames pass
  // frame_is_user but have none), else any.
  std::size_t first_user = fs.size();
  for (std::size_t k = i; k < fs.size() && first_user == fs.size(); ++k)
    if (frame_is_user(fs[k]) && fs[k].exact) first_user = k;
  for (std::size_t k = i; k < fs.size() && first_user == fs.size(); ++k)
    if (frame_is_user(fs[k])) first_user = k;
  for (; i < fs.size(); ++i)
    if (i <= first_user || frame_is_user(fs[i])) append_go_frame(out, fs[i]);
}

GORO_DETAIL_COMPILED void stall_reporter_loop(sched_t* s, stall_reporter* rep) {
  goro_thread_scope mine(s);
  std::unique_lock<std::mutex> lk(rep->mu);
  for (;;) {
    rep->cv.wait(lk, [&] { return rep->stop || !rep->queue.empty(); });
    if (rep->queue.empty()) return;  // stop, and all printed
    std::vector<stall_reporter::item> batch;
    batch.swap(rep->queue);
    lk.unlock();
    for (stall_reporter::item& it : batch) {
      std::string out = std::move(it.head);
      if (it.has_stack) stall_format_stack(out, it.tb, it.trimmed);
      else out += "\t(no stack: the thread did not take the signal within 100 ms; ThreadSanitizer holds signals until the thread makes an intercepted call)\n";
      out += "\n";
      write_err(out.c_str(), out.size());
    }
    lk.lock();
  }
}

// stop_stall_reporter: ends s's reporter, if it has one, after it printed
// everything queued. run's shutdown (stop_ms), once sysmon has stopped.
GORO_DETAIL_COMPILED void stop_stall_reporter(sched_t* s) {
  stall_reporter* rep = s->stall_rep;
  if (rep == nullptr) return;
  {
    std::lock_guard<std::mutex> lk(rep->mu);
    rep->stop = true;
  }
  rep->cv.notify_one();
  rep->thread.join();
  delete rep;
  s->stall_rep = nullptr;
}

// stall_report queues one report: "goro: goroutine <id> ran <n> ms without a
// scheduling point (created at <file>:<line>)", " label: <label>" if it has
// one, then the stack (c's, or a line saying why there is none), then a blank
// line. sysmon only.
GORO_DETAIL_COMPILED void stall_report(sched_t* s, const stall_rec& r, const stall_capture* c) {
  const g* gp = r.gp;
  char buf[24];
  stall_reporter::item it;
  std::string& out = it.head;
  out = "goro: goroutine ";
  out += fmt_u64(buf, gp->id);
  out += " ran ";
  out += fmt_u64(buf, static_cast<std::uint64_t>(r.ran_ns / 1'000'000));
  out += " ms without a scheduling point (created at ";
  append_site(out, gp->site);
  out += ")";
  if (std::string label = goroutine_label(gp); !label.empty()) {
    out += " label: ";
    out += label;
  }
  out += "\n";
  if (c != nullptr) {
    it.has_stack = true;
    it.trimmed = c->trimmed;
    it.tb = c->tb;
  }
  if (s->stall_rep == nullptr) {
    auto* rep = new stall_reporter;
    rep->thread = std::thread(stall_reporter_loop, s, rep);
    s->stall_rep = rep;
  }
  {
    std::lock_guard<std::mutex> lk(s->stall_rep->mu);
    s->stall_rep->queue.push_back(std::move(it));
  }
  s->stall_rep->cv.notify_one();
}

// finish_stall: a request is out to r.sent_to; print the report once the
// handler answered, or without the stack after stall_capture_wait_ns.
GORO_DETAIL_COMPILED void finish_stall(sched_t* s, p* pp, stall_rec& r, std::int64_t now) {
  stall_capture& c = r.sent_to->stall;
  std::uint32_t st = c.state.load(std::memory_order_acquire);  // pairs with the handler's release of done
  if (st == stall_done) {
    // Still the same stretch (the P's counters as when detected) and the G
    // the handler found running: report it.
    if (c.found && pp->scheduled.load(std::memory_order_relaxed) == r.scheduled) stall_report(s, r, &c);
    c.state.store(stall_idle, std::memory_order_relaxed);  // sysmon's own next request orders after this
    r.sent_to = nullptr;
    return;
  }
  if (now - r.sent < stall_capture_wait_ns) return;
  std::uint32_t expect = stall_requested;
  if (c.state.compare_exchange_strong(expect, stall_idle, std::memory_order_relaxed)) {
    if (pp->scheduled.load(std::memory_order_relaxed) == r.scheduled) stall_report(s, r, nullptr);
    r.sent_to = nullptr;
  }
  // else: the handler is writing; done soon.
}

// check_stalls: one sysmon pass over the Ps for stall reports; true if it
// acted (sysmon then keeps its rounds short). sysmon only; stall_ns > 0.
GORO_DETAIL_COMPILED bool check_stalls(sched_t* s, std::int64_t now, std::vector<stall_rec>& recs) {
  bool acted = false;
  for (std::size_t i = 0; i < s->allp.size(); ++i) {
    p* pp = s->allp[i];
    stall_rec& r = recs[i];
    if (r.sent_to != nullptr) {
      finish_stall(s, pp, r, now);
      acted = true;
      continue;
    }
    // Hints, relaxed: a stale read delays a report by a round (see "Other
    // locks and words" in docs/design.md).
    std::uint32_t st = pp->status.load(std::memory_order_acquire);
    std::uint64_t sc = pp->scheduled.load(std::memory_order_relaxed);
    std::uint32_t sy = pp->syscalltick.load(std::memory_order_relaxed);
    if (st != p_running || sc != r.scheduled || sy != r.syscalltick || r.since == 0) {
      r.scheduled = sc;
      r.syscalltick = sy;
      r.since = now;
      r.probe = 0;
      r.reported = false;
      continue;
    }
    if (r.reported || now - r.since < s->stall_ns) continue;
    acted = true;
    if (r.probe == 0) {  // see "Stall reports": does it make goro calls?
      pp->preempt.store(true, std::memory_order_relaxed);
      r.probe = now;
      continue;
    }
    if (!pp->preempt.load(std::memory_order_relaxed)) {  // taken at a safe point: it switches now
      r.probe = 0;
      continue;
    }
    if (now - r.probe < stall_probe_ns) continue;
    r.reported = true;
    m* mp = pp->mp.load(std::memory_order_acquire);
    const g* gp = pp->curg.load(std::memory_order_acquire);  // pairs with start_g's release: gp's id and site
    if (mp == nullptr || gp == nullptr) continue;
    r.gp = gp;
    r.ran_ns = now - r.since;
    pid_t tid = mp->procid.load(std::memory_order_relaxed);
    stall_capture& c = mp->stall;
    std::uint32_t expect = stall_idle;
    if (tid == 0 || c.state.load(std::memory_order_relaxed) != stall_idle) {
      stall_report(s, r, nullptr);
      continue;
    }
    c.expect = gp;
    // release: publishes c.expect to the handler's acquire.
    if (!c.state.compare_exchange_strong(expect, stall_requested, std::memory_order_release, std::memory_order_relaxed)) continue;
    if (!stall_send(tid)) {
      c.state.store(stall_idle, std::memory_order_relaxed);
      stall_report(s, r, nullptr);
      continue;
    }
    r.sent_to = mp;
    r.sent = now;
  }
  return acted;
}
#else
GORO_DETAIL_COMPILED void stop_stall_reporter(sched_t* s);
GORO_DETAIL_COMPILED void finish_stall(sched_t* s, p* pp, stall_rec& r, std::int64_t now);
GORO_DETAIL_COMPILED bool check_stalls(sched_t* s, std::int64_t now, std::vector<stall_rec>& recs);
#endif  // GORO_DETAIL_DEFINE_COMPILED

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_STALL_HPP
