// goro/runtime2.hpp — the runtime's data: g (goroutine), m (OS thread), p
// (processor), their states and the wait reasons. Follows Go's runtime2.go.
//
//   G  a goroutine. Its g lives at the top of its own stack slot (stack.hpp), so
//      spawning takes one pooled slot and touches one page.
//   M  an OS thread. It runs goroutines only while it holds a P. Its g0 is the
//      thread's own stack, where the scheduler's slow path and idling run.
//   P  a logical processor (config::procs of them): the right to run Go code,
//      with a local run queue and caches. An M holds at most one P.
//
// G states and who owns the G (and its stack) in each:
//   dead      free: in a P's or the global g cache, or never used. Owned by the
//             cache's owner.
//   runnable  in a run queue (a P's ring or runnext, or the global queue). Owned
//             by the queue; whoever dequeues it owns it.
//   running   executing on an M (m.curg). Owned by that M.
//   waiting   parked on a goro object (a semaphore, a channel, a timer): its wait
//             record is in that object's queue, whose lock decides who readies it.
//             Only that waker (or the shutdown unwinder, through g.cancel) may
//             make it runnable again.
//   syscall   inside blocking<>: running on an M without a P.
// Who makes each transition: running -> waiting, the G's own M in the park
// protocol after the switch away (park.hpp, "Parking"); waiting -> runnable,
// the waker's ready() (any M or thread: whoever dequeued the wait record owns
// the G at that point); runnable -> running, the M that dequeued it;
// running -> runnable (yield) and -> dead (exit), the G's own M.
#ifndef GORO_DETAIL_RUNTIME2_HPP
#define GORO_DETAIL_RUNTIME2_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runq.hpp"
#include "sanitizer.hpp"
#include "stack.hpp"
#include "timers.hpp"
#include "traceback.hpp"

#include <atomic>
#include <cstdint>
#include <pthread.h>
#include <sys/types.h>
#include <string>
#include <string_view>
#include <vector>
#include <algorithm>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

struct g;
struct m;
struct p;
struct sched_t;
struct trace_ring;   // trace.hpp
struct trace_state;  // trace.hpp

enum class gstatus : std::uint32_t { dead = 0, runnable, running, waiting, syscall };

inline const char* gstatus_name(gstatus s) noexcept {
  switch (s) {
    case gstatus::dead: return "dead";
    case gstatus::runnable: return "runnable";
    case gstatus::running: return "running";
    case gstatus::waiting: return "waiting";
    case gstatus::syscall: return "syscall";
  }
  return "?";
}

// wait_reason: why a goroutine is parked, with Go's waitReason strings, which
// appear in dumps and in deadlock reports.
enum class wait_reason : std::uint8_t {
  none,
  chan_receive,
  chan_send,
  chan_receive_nil,
  chan_send_nil,
  select,
  select_no_cases,
  sleep,
  semacquire,
  sync_mutex_lock,
  sync_rwmutex_rlock,
  sync_rwmutex_lock,
  sync_cond_wait,
  sync_waitgroup_wait,
  sync_once,
  io_wait,
  timer,
  semaphore_acquire,
  context_stop,
};

inline const char* wait_reason_name(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::none: return "";
    case wait_reason::chan_receive: return "chan receive";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::chan_receive_nil: return "chan receive (nil chan)";
    case wait_reason::chan_send_nil: return "chan send (nil chan)";
    case wait_reason::select: return "select";
    case wait_reason::select_no_cases: return "select (no cases)";
    case wait_reason::sleep: return "sleep";
    case wait_reason::semacquire: return "semacquire";
    case wait_reason::sync_mutex_lock: return "sync.Mutex.Lock";
    case wait_reason::sync_rwmutex_rlock: return "sync.RWMutex.RLock";
    case wait_reason::sync_rwmutex_lock: return "sync.RWMutex.Lock";
    case wait_reason::sync_cond_wait: return "sync.Cond.Wait";
    case wait_reason::sync_waitgroup_wait: return "sync.WaitGroup.Wait";
    case wait_reason::sync_once: return "sync.Once.Do";
    case wait_reason::io_wait: return "IO wait";
    case wait_reason::timer: return "timer";
    case wait_reason::semaphore_acquire: return "semaphore.Acquire";
    case wait_reason::context_stop: return "context stop relay";
  }
  return "?";
}

// g::unwind's states (run.hpp, "Unwinding at shutdown").
inline constexpr std::uint8_t unwind_live = 0, unwind_cancelled = 1, unwind_thrown = 2, unwind_again = 3, unwind_done = 4;

// cancel_fn: removes g's wait record from the object it waits on. Returns true
// if it removed it (the caller must then ready g), false if a waker already
// dequeued it (the waker readies g). Takes the object's lock. Used only by the
// shutdown unwinder (run.hpp, "Unwinding at shutdown").
using cancel_fn = bool (*)(g* gp, void* arg) noexcept;

// unlock_fn: called by the park protocol after g has switched out (on the next
// context). Returning false cancels the park: g is made runnable again at once.
using unlock_fn = bool (*)(g* gp, void* arg) noexcept;

struct dump_ctx;

// describe_fn: describes the object a parked goroutine waits on, for dumps
// (park_opts::wait, park.hpp). Appends "chan<int> 0x... (cap 1, len 0)" and
// the like to *out when out is not null; returns the goroutine id of the
// holder of a mutex or shared_mutex (writer) waited for, else 0 (cycles in
// deadlock reports follow it). ctx (may be null) finds other goroutines,
// for a holder's "locked at". Any thread; reads the object racily unless
// the world is stopped (a deadlock, a deterministic report).
using describe_fn = std::uint64_t (*)(const void* obj, std::string* out, const dump_ctx* ctx);

// held_locks: the mutexes a goroutine holds, with where it locked each, for
// the "locked at" of dumps. Kept only in deterministic mode or with
// tracebacks on (lock_sites_on, park.hpp), allocated at the G's first lock
// and freed when it exits. Written by the G itself (push on lock, pop on
// unlock); read by dumps (racily in threaded mode: best effort, as Go's
// dumps of a running world; exact when the world is stopped).
struct held_locks {
  static constexpr std::size_t max = 8;       // more held at once: the rest are not recorded
  static constexpr std::size_t depth = 8;     // frames per site: the user's frame is within a few of lock()
  struct entry {
    const void* mu;
    std::uint32_t n;
    std::uintptr_t pc[depth];
  };
  entry e[max];
  std::size_t n = 0;
};

struct g {
  // --- context; owned by whoever owns the G (see the states above) ---
  void* sp = nullptr;            // saved stack pointer while switched out
  san_fiber san;                 // sanitizer fiber state
  int saved_errno = 0;           // errno belongs to the goroutine (docs/design.md, "TLS caching")
  void* eh_caught = nullptr;     // per-goroutine C++ exception state: __cxa_eh_globals
  unsigned eh_uncaught = 0;      //   fields, swapped in and out by the switch (gogo, sched.hpp)

  // --- scheduling ---
  std::atomic<gstatus> status{gstatus::dead};  // written by the G's owner of the moment (see the states above); read by anyone (dumps, unwinder)
  g* schedlink = nullptr;        // g cache or netpoll ready-list link; guarded by that list's owner/lock
  sched_t* sched = nullptr;      // the runtime this G belongs to; immutable while the G is alive
  m* lockedm = nullptr;          // the M this G is locked to (lock_os_thread); owning M only
  unsigned locked_count = 0;     // lock_os_thread nesting; the G itself

  // --- identity and diagnostics; immutable while the G is alive ---
  std::uint64_t id = 0;
  source_loc site;               // where `go` was called
  bool is_main = false;          // the main goroutine of run()
  bool is_thread = false;        // a pseudo-g standing for a plain OS thread (park = futex wait)
  // label (this_goroutine::set_label, Go's pprof labels as one string), on
  // the heap, nullptr when none: labels are rare, and a std::string here
  // would cost every G its bytes. Replaced and freed only by the G itself,
  // under label_lock (below), which any thread takes to copy it (dumps,
  // stall reports, the trace); the relaxed load lets readers skip the lock
  // when there is none. Freed by the G at exit (goexit), so a G reused from
  // the cache starts without one.
  std::atomic<std::string*> label{nullptr};

  // --- parking; written by the G before it parks, read by its waker ---
  // why and wait_since: atomic (relaxed) only because dumps read them while
  // the G may be running (goroutine_dump at shutdown).
  std::atomic<wait_reason> why{wait_reason::none};
  std::atomic<std::int64_t> wait_since{0};  // nanotime() when it parked, for dumps
  // What it waits on and where (docs/design.md, "Where each goroutine
  // waits"). wait_obj and wait_describe: written by the G in park() before it
  // parks, read by dumps while it is parked (relaxed atomics: a dump of a
  // running world reads them while the G may run; the park's status store,
  // release, orders them for a dump that sees "waiting"). park_tb: the stack
  // captured where it parked, a traceback on its own stack in park(): set
  // before it parks (threaded mode with tracebacks on) or in report mode
  // (deterministic mode: det_capture); nullptr when none. held: see held_locks.
  std::atomic<const void*> wait_obj{nullptr};
  std::atomic<describe_fn> wait_describe{nullptr};
  std::atomic<const traceback*> park_tb{nullptr};
  held_locks* held = nullptr;    // the G itself; freed at exit
  cancel_fn cancel = nullptr;    // how the unwinder removes this G's wait record, or nullptr
  void* cancel_arg = nullptr;
  void* param = nullptr;         // a value a waker passes to the parked G (Go: g.param)
  note thread_note;              // is_thread only: the plain thread sleeps here
  // unwind (run.hpp, "Unwinding at shutdown"): unwind_live; unwind_cancelled,
  // the unwinder cancelled its wait (its park throws goroutine_exit);
  // unwind_thrown, it has thrown goroutine_exit (again only once swallowed);
  // unwind_again, it swallowed it and is parking: this wait may be cancelled
  // again; unwind_done, past its body (never thrown again).
  std::atomic<std::uint8_t> unwind{0};
  // exit_again: how many times goroutine_exit was thrown again because this G
  // swallowed it (for the shutdown dump); the G writes, dumps read.
  std::atomic<std::uint32_t> exit_again{0};
  // parkstate: lets the unwinder claim a parked G so that the G cannot leave
  // its park (and its wait record's object cannot go away) while the unwinder
  // cancels it. See "Claiming a parked G" in park.hpp.
  std::atomic<std::uint8_t> parkstate{0};
  // select_done: a select parked on several channels is woken by exactly one
  // of them: the waker that wins the CAS 0 -> 1 (Go: g.selectDone).
  std::atomic<std::uint32_t> select_done{0};
  unsigned in_blocking = 0;      // inside blocking<> (nesting depth); the G itself
  // Execution trace (trace.hpp), only while it is on: the flow id of the
  // ready that made it runnable (written by the readier before the run
  // queue's release, read by the M that dequeues it).
  std::uint64_t trace_flow = 0;

  // --- body; set at spawn, used once at entry ---
  void (*body)(g*) = nullptr;    // invokes the closure (or destroys it unrun, at shutdown)
  void* closure = nullptr;       // the decay-copied callable and arguments: on this stack, or on the heap if large
  void (*destroy)(void*) = nullptr;  // destroys (and frees, if on the heap) the closure

  // --- stack; immutable while the slot is in use ---
  stack_slot stack;
};

// set_gstatus makes one transition of the table at the top of this file.
// from is the state the caller's protocol guarantees; under
// GORO_DETAIL_DCHECKS a G found in another state is a fatal error (Go:
// casgstatus's "bad status" throws), what names the transition.
inline void set_gstatus(g* gp, [[maybe_unused]] gstatus from, gstatus to, [[maybe_unused]] const char* what,
                        std::memory_order mo = std::memory_order_relaxed) noexcept {
  GORO_DETAIL_DCHECK(gp->status.load(std::memory_order_relaxed) == from, what);
  gp->status.store(to, mo);
}

// parkstate values.
inline constexpr std::uint8_t park_none = 0;         // not parked, or parked without a cancel_fn
inline constexpr std::uint8_t park_cancellable = 1;  // parked with a cancel_fn
inline constexpr std::uint8_t park_claimed = 2;      // the unwinder is cancelling it: the G waits before leaving park
inline constexpr std::uint8_t park_released = 3;     // the unwinder cancelled its wait and is done with it
inline constexpr std::uint8_t park_arming = 4;       // parking: the park op still uses the slot; the G waits

// P states (p.status). running: held by an M running Go code; syscall: its M
// is inside blocking<> with handoff_lazy and may still come back to it, or
// sysmon may take it away (CAS syscall -> idle, then handoffp); idle: not held.
inline constexpr std::uint32_t p_idle = 0;
inline constexpr std::uint32_t p_running = 1;
inline constexpr std::uint32_t p_syscall = 2;

// pending_kind: what the arriving side of a switch must finish for the
// departing goroutine, which cannot do it itself while still on its stack
// (park.hpp, "Parking").
enum class pending_kind : std::uint8_t { none, park, yield, exit, exitsyscall };

struct pending_op {
  pending_kind kind = pending_kind::none;
  g* gp = nullptr;
  unlock_fn unlock = nullptr;
  void* arg = nullptr;
};

// stall_capture: the stall signal's request to an M and what its handler
// found (stall.hpp, "Stall reports"). state: stall_idle -> stall_requested
// (sysmon) -> stall_writing (the handler, on the M's thread) -> stall_done
// (release: publishes tb and found; pairs with sysmon's acquire) -> stall_idle
// (sysmon); or stall_requested -> stall_idle when sysmon gives up waiting.
struct stall_capture {
  std::atomic<std::uint32_t> state{0};
  const g* expect = nullptr;     // written by sysmon before the request: the G it thinks stalled
  bool found = false;            // the handler: expect was this M's curg, tb holds its stack
  bool trimmed = false;          // the handler: tb starts at the interrupted frame
  traceback tb;
};

using p_runq = runq_ring<std::atomic, g, GORO_RUNQ_SIZE>;

struct alignas(64) p {
  int id = 0;
  sched_t* sched = nullptr;
  std::atomic<m*> mp{nullptr};   // the M holding this P, or nullptr when idle. Written by that M (or under
                                 // sched.lock when idle); read racily by thieves (a hint: is it running?)
  p* link = nullptr;             // idle list; guarded by sched.lock
  p_runq runq;                   // lock-free: owner P pushes and pops, thieves grab (runq.hpp)
  std::atomic<std::uint32_t> schedtick{0};  // written by the owner on every schedule (relaxed); sysmon reads it
  // Blocking system calls and preemption (blocking.hpp, sysmon):
  std::atomic<std::uint32_t> status{0};      // p_idle / p_running / p_syscall; see blocking.hpp
  std::atomic<std::uint32_t> syscalltick{0}; // written by the owner on entering/leaving blocking<>
  std::atomic<bool> preempt{false};          // set by sysmon: the running G yields at its next safe point
  trace_ring* trace = nullptr;   // this P's trace ring while tracing is on (trace.hpp), else nullptr; set before
                                 // any goroutine runs; the ring is written only by the M holding this P
  std::int64_t trace_slice_start = 0;  // tracing: when the running G's slice began (a slice starts and ends on one P), and after trace_go_stop, when it ended; owner only
  std::uint32_t fastrand = 0;    // owner only: victim order for stealing
  timer_heap timers;             // this P's timers; its own lock (timers.hpp, and "Timers" in sched_timers.hpp)

  // g cache (Go: p.gFree); owner only
  g* gfree = nullptr;
  std::uint32_t ngfree = 0;

  // goroutine ids handed out in blocks of goid_batch (Go: p.goidcache); owner only
  std::uint64_t goid_next = 0;
  std::uint64_t goid_end = 0;

  // Counters: written by the owner (relaxed stores), read by anyone.
  alignas(64) std::atomic<std::uint64_t> created{0};   // goroutines spawned on this P
  std::atomic<std::uint64_t> exited{0};                // goroutines that exited on this P
  std::atomic<std::uint64_t> scheduled{0};             // goroutines run (switches into a G)
  std::atomic<std::uint64_t> steals{0};                // successful steals by this P
  std::atomic<std::uint64_t> stolen{0};                // Gs taken by those steals
  // curg: the G this P last switched into (start_g; a release store next to
  // `scheduled`, on the same line). Stall reports (stall.hpp) read it with
  // acquire, which makes the G's id and site visible; stale once the G left.
  std::atomic<g*> curg{nullptr};

  void add_relaxed(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // owner-only writer: no RMW needed
  }
};

struct m {
  int id = 0;
  sched_t* sched = nullptr;
  g g0;                          // the thread's own stack: the scheduler's slow path and idling
  g* curg = nullptr;             // the G running on this M, or nullptr on g0; this M only
  p* pp = nullptr;               // the attached P; this M only (handed over via nextp)
  p* nextp = nullptr;            // a P handed to this M by startm; set before its note is woken
  g* nextg = nullptr;            // a locked G handed to this M with nextp (startlockedm)
  bool spinning = false;         // looking for work; counted in sched.nmspinning
  p* oldp = nullptr;             // blocking<>: the P this M had on entering; this M only
  bool exiting = false;          // leave the thread after the next switch to g0
  note park;                     // idle Ms sleep here
  m* schedlink = nullptr;        // idle list; guarded by sched.lock
  m* alllink = nullptr;          // all Ms; guarded by sched.lock
  g* lockedg = nullptr;          // the G locked to this M; this M only
  pending_op pending;            // set by the departing side of a switch; run by the arriving side
  pthread_t thread{};
  std::uint32_t fastrand = 0;
  std::int64_t trace_blocking_start = 0;  // trace.hpp: when this M entered blocking<>; this M only
  std::atomic<pid_t> procid{0};  // the thread's kernel tid (Go: m.procid); set by mstart, read by sysmon
  stall_capture stall;           // stall reports (stall.hpp); see stall_capture
};

// label_lock guards every G's label pointer against being freed while a
// reader copies it (one lock for all: set_label and dumps are rare).
inline rt_mutex label_lock;

// goroutine_label returns a copy of gp's label (this_goroutine::set_label),
// empty if none. Any thread; takes label_lock (never held across a park).
inline std::string goroutine_label(const g* gp) {
  if (gp->label.load(std::memory_order_relaxed) == nullptr) return {};
  rt_lock_guard lk(label_lock);
  const std::string* l = gp->label.load(std::memory_order_relaxed);
  return l != nullptr ? *l : std::string();
}

// set_goroutine_label / clear_goroutine_label: the G itself only. The string
// is built and freed outside the lock, so a reader waits for a swap only.
inline void set_goroutine_label(g* gp, std::string_view label) {
  std::string* fresh = label.empty() ? nullptr : new std::string(label);
  std::string* old;
  {
    rt_lock_guard lk(label_lock);
    old = gp->label.exchange(fresh, std::memory_order_relaxed);
  }
  delete old;
}
inline void clear_goroutine_label(g* gp) noexcept {
  if (gp->label.load(std::memory_order_relaxed) == nullptr) return;
  std::string* old;
  {
    rt_lock_guard lk(label_lock);
    old = gp->label.exchange(nullptr, std::memory_order_relaxed);
  }
  delete old;
}

// dump_ctx: what one dump knows about all the goroutines it lists, for the
// entries' cross references (a mutex's holder's "locked at").
struct dump_ctx {
  std::vector<const g*> gs;  // the goroutines of the dump
  const g* by_id(std::uint64_t id) const noexcept {
    for (const g* gp : gs)
      if (gp->id == id) return gp;
    return nullptr;
  }
};

// parked_traceback: where parked gp waits (its park_tb, or a capture in
// deterministic mode's report mode), copied into scratch; nullptr when not
// known (threaded mode without tracebacks, or gp not waiting). det.hpp.
GORO_DETAIL_COMPILED const traceback* parked_traceback(g* gp, traceback& scratch);

// dump_goroutine appends gp's entry of a goroutine dump, Go's format:
//   goroutine N [state]:                 ("state, main" for main)
//   \tlabel: L                          its label, if any (set_label)
//   \tblocked at file:line (function)    a parked goroutine, where known
//   \t<function>\n\t\t<file>:<line>       a few of the user's frames above it
//   \twaiting for <what>                 the object, from its describe_fn
//   \tcreated at file:line
// goroutine_dump and deterministic mode's reports share it. ctx: the dump's
// goroutines (for "locked at"), or nullptr.
inline void dump_goroutine(std::string& out, g* gp, const std::string& state, const dump_ctx* ctx = nullptr) {
  char buf[24];
  out += "goroutine ";
  out += fmt_u64(buf, gp->id);
  out += " [";
  out += state;
  if (gp->is_main) out += ", main";
  out += "]:\n";
  if (std::string label = goroutine_label(gp); !label.empty()) {
    out += "\tlabel: ";
    out += label;
    out += "\n";
  }
  if (gp->status.load(std::memory_order_acquire) == gstatus::waiting) {
    traceback scratch;
    if (const traceback* tb = parked_traceback(gp, scratch)) format_blocked(out, *tb);
    const void* obj = gp->wait_obj.load(std::memory_order_relaxed);
    describe_fn d = gp->wait_describe.load(std::memory_order_relaxed);
    if (d != nullptr) {
      out += "\twaiting for ";
      d(obj, &out, ctx);
      out += '\n';
    }
  }
  out += "\tcreated at ";
  append_site(out, gp->site);
  out += "\n\n";
}

// wait_holder: the goroutine holding the mutex parked gp waits for, or 0.
inline std::uint64_t wait_holder(const g* gp) {
  if (gp->status.load(std::memory_order_acquire) != gstatus::waiting) return 0;
  describe_fn d = gp->wait_describe.load(std::memory_order_relaxed);
  return d != nullptr ? d(gp->wait_obj.load(std::memory_order_relaxed), nullptr, nullptr) : 0;
}

// wait_cycle: "cycle: goroutine 2 -> goroutine 3 -> goroutine 2\n" when the
// goroutines of ctx wait for each other in a cycle through mutexes (each
// waits for a mutex the next holds), starting from the lowest id in it; ""
// when there is none. Deadlock reports print it.
inline std::string wait_cycle(const dump_ctx& ctx) {
  for (const g* start : ctx.gs) {
    // Follow holder edges from start for at most gs.size() steps; a cycle
    // through start is reported from its lowest id.
    std::vector<const g*> path{start};
    const g* cur = start;
    for (std::size_t step = 0; step < ctx.gs.size(); ++step) {
      std::uint64_t h = wait_holder(cur);
      if (h == 0) break;
      const g* next = ctx.by_id(h);
      if (next == nullptr) break;
      if (next == start) {
        std::uint64_t lowest = start->id;
        for (const g* x : path) lowest = std::min(lowest, x->id);
        if (lowest != start->id) break;  // reported from its lowest member
        std::string out = "cycle:";
        char buf[24];
        for (const g* x : path) {
          out += " goroutine ";
          out += fmt_u64(buf, x->id);
          out += " ->";
        }
        out += " goroutine ";
        out += fmt_u64(buf, start->id);
        out += '\n';
        return out;
      }
      bool seen = false;
      for (const g* x : path) seen |= x == next;
      if (seen) break;  // a cycle not through start: found from its own members
      path.push_back(next);
      cur = next;
    }
  }
  return {};
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_RUNTIME2_HPP
