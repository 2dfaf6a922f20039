// goro/sched.hpp — the threaded scheduler: Gs on Ms holding Ps, Go's proc.go.
//
// Contents, in the order a reader of proc.go would look for them:
//   sched_t            the runtime (Go: schedt), one per run() plus the default
//   g cache            gfget / gfput: pooled Gs with their stacks
//   switching          gogo: the one place that swaps stacks (errno, exception
//                      state, sanitizers), and the pending-op hand-off
//   run queues         runqput / globrunqput / runqget / steal_work
//   Ms and Ps          startm / stopm / wakep / handoffp / acquirep / releasep
//   schedule           schedule (on a G's stack) and find_runnable (on g0)
//   the park/ready seam park / ready: what channels, sync, timers and the
//                      netpoller call; the deterministic scheduler (det.hpp)
//                      implements the same two functions
//   timers             the runtime timer heap (rtimer), run by the scheduler
//   run                start-up, checkdead, unwinding at shutdown, dumps
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
//
// ---------------------------------------------------------------------------
// Unwinding at shutdown.
//
// When main returns (or checkdead reports a deadlock), run() sets sched.exiting
// and every live G must end, destructors run (API.md: goroutine_exit):
//   - a G not yet started is destroyed without running its body;
//   - a running G throws goroutine_exit from its next park or yield;
//   - a parked G is resumed with goroutine_exit thrown from its park. Its wait
//     record must first leave the object's queue, or a later waker would ready
//     it twice: g.cancel removes it under the object's lock, and only whoever
//     removes it readies it (a waker that dequeued it first readies it itself;
//     the G then completes that operation normally and is unwound at its next
//     blocking call, so no hand-off, such as a mutex's, is lost).
// The race between the unwinder's walk and a G that is parking right now is a
// Dekker pair: the unwinder stores exiting, full_fence, reads g.status; the park
// op stores status = waiting, full_fence, reads exiting and, if set, cancels its
// own wait. Both may cancel; the object's lock lets only one succeed.
// g.unwind makes goroutine_exit a once-per-goroutine event: blocking calls made
// while it unwinds (destructors) work normally.
#ifndef GORO_DETAIL_SCHED_HPP
#define GORO_DETAIL_SCHED_HPP

#include "config.hpp"
#include "ctx.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "sanitizer.hpp"
#include "stack.hpp"

#include <algorithm>
#include <chrono>
#include <cxxabi.h>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace sim {
enum class strategy { random, pct };
}

// clock: goro's clock (API.md, "Time"): the steady clock in threaded mode;
// in deterministic mode the virtual clock of the run on this thread (det.hpp),
// which only moves when no goroutine can run.
#if GORO_DETERMINISTIC
struct clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<clock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point(duration(detail::nanotime())); }
};
#else
using clock = std::chrono::steady_clock;
#endif

// config: see API.md, "Runtime".
struct config {
  unsigned procs = 0;
  std::size_t stack_size = 256 * 1024;
  unsigned max_threads = 10000;
  std::uint64_t seed = 0;
  sim::strategy how = sim::strategy::random;
  unsigned pct_depth = 3;
  unsigned pct_steps = 100;
  std::uint64_t max_steps = 10'000'000;
};

namespace detail {

inline constexpr unsigned max_procs = 256;
inline constexpr std::size_t min_stack_size = 16 * 1024;
inline constexpr std::uint32_t global_runq_check_ticks = 61;  // Go: schedtick%61 == 0
inline constexpr int steal_tries = 4;                         // Go: stealTries
inline constexpr std::uint32_t gcache_local_max = 64;         // Go: p.gFree over 64 moves half to sched.gFree
inline constexpr std::size_t gcache_global_warm_max = 1024;   // warm slots kept process-wide per stack size;
                                                              // more go back to the OS (stack.hpp, "Release")
inline constexpr std::int64_t scavenge_period_ns = 100'000'000;  // g_pool::scavenge at most every 100 ms
inline constexpr std::uint64_t goid_batch = 16;               // Go: _GoidCacheBatch
inline constexpr std::int64_t dump_after_ns = 10'000'000'000; // API.md: dump after 10 s of waiting at shutdown
inline constexpr std::int64_t no_sleeper = INT64_MIN;  // sched_t::timer_m_until when no M sleeps for timers
// sysmon fires the timers of a P overdue by more than this (see "Timers"):
// 1 ms for a P no M runs (idle, or its M in blocking<>); 20 ms, twice the
// preemption period, for a running P, whose M runs them itself at its next
// switch, at the latest when sysmon's preemption mark reaches a safe point
// (readied there they go to that P's queue; fired by sysmon, to the global
// queue, which a P checks only every 61st schedule).
inline constexpr std::int64_t sysmon_timer_slack_ns = 1'000'000;
inline constexpr std::int64_t sysmon_timer_slack_running_ns = 20'000'000;

struct sched_t;

// The deterministic scheduler (det.hpp). In a GORO_DETERMINISTIC build the
// threaded scheduler below defers to it at these points only: the run queue
// (det_put / det_next), spawn and exit, the scheduling points, failures, and
// the random choices of select. Everything above the park/ready seam
// (channels, select, sync, timers) is the same code in both modes.
#if GORO_DETERMINISTIC
struct det_state;
inline void det_put(sched_t* s, g* gp) noexcept;
inline g* det_next(sched_t* s);
inline void det_point(bool may_unwind);
inline void det_spawn(sched_t* s, g* gp);
inline void det_exit(sched_t* s, g* gp) noexcept;
inline void det_fail(sched_t* s, std::exception_ptr e) noexcept;
[[noreturn]] inline void det_fatal(const char* msg) noexcept;
inline std::uint32_t det_rand() noexcept;
inline void det_race_acquire(const void* obj) noexcept;
inline void det_race_release(const void* obj) noexcept;
// det_input: what drives a run besides its config: run_with_choices' bytes
// (each decision takes the next byte), and explore's quiet flag.
struct det_input {
  const std::uint8_t* choices = nullptr;
  std::size_t nchoices = 0;
  bool by_choices = false;
  bool quiet = false;
};
template <class F>
void det_run(F&& main_fn, config cfg, source_loc site, det_input in);
#endif

// ---------------------------------------------------------------------------
// TLS. A goroutine may resume on another M, so code running on a goroutine
// must never cache the address of a thread_local across a call that can
// switch. These accessors are noinline and contain a compiler barrier, so each
// call reads the current thread's value (DESIGN.md, "TLS caching").

// tls_m: this thread's M. Read and written with relaxed atomic builtins: in
// deterministic mode under TSan every goroutine is a fiber of one thread and
// reads it (also outside the runtime's ignore regions), and the run's thread
// writes it at the start and end of run(): plain accesses would be reported.
// (An atomic on one thread costs a plain move.)
inline thread_local m* tls_m = nullptr;
inline void set_tls_m(m* mp) noexcept { __atomic_store_n(&tls_m, mp, __ATOMIC_RELAXED); }

GORO_DETAIL_NOINLINE inline m* getm() noexcept {
  asm volatile("" ::: "memory");
  return __atomic_load_n(&tls_m, __ATOMIC_RELAXED);
}

GORO_DETAIL_NOINLINE inline int* errno_ptr() noexcept {
  asm volatile("" ::: "memory");
  return &errno;
}

struct cxa_eh_globals {  // the leading fields of libstdc++'s and libc++abi's __cxa_eh_globals
  void* caught;
  unsigned int uncaught;
};
GORO_DETAIL_NOINLINE inline cxa_eh_globals* eh_globals() noexcept {
  asm volatile("" ::: "memory");
  return reinterpret_cast<cxa_eh_globals*>(abi::__cxa_get_globals());
}

// thread_g: the pseudo-g of a plain OS thread (not an M). Parking on it sleeps
// the thread on thread_note; ready() wakes it.
GORO_DETAIL_NOINLINE inline g* thread_g() noexcept {
  asm volatile("" ::: "memory");
  static thread_local g tg;
  tg.is_thread = true;
  return &tg;
}

// getg returns the running goroutine, or the calling plain thread's pseudo-g.
inline g* getg() noexcept {
  m* mp = getm();
  if (mp != nullptr && mp->curg != nullptr) return mp->curg;
  return thread_g();
}

// rt_region: deterministic mode's runtime code under TSan runs inside one
// (sanitizer.hpp, "Deterministic mode under TSan"); an empty object otherwise.
// Nests; one per fiber at a time is live in TSan, the depth in san_fiber.
class rt_region {
 public:
#if GORO_DETAIL_TSAN_DET
  rt_region() noexcept : f_(current()) {
    if (f_ != nullptr && __atomic_fetch_add(&f_->ignore, 1u, __ATOMIC_RELAXED) == 0) san_ignore_begin();
  }
  ~rt_region() {
    if (f_ != nullptr && __atomic_sub_fetch(&f_->ignore, 1u, __ATOMIC_RELAXED) == 0) san_ignore_end();
  }
  static san_fiber* current() noexcept { return getm() != nullptr ? san_current() : nullptr; }

 private:
  san_fiber* f_;
#else
  rt_region() noexcept {}
  ~rt_region() {}
#endif
 public:
  rt_region(const rt_region&) = delete;
  rt_region& operator=(const rt_region&) = delete;
};

// san_edge: a happens-before edge for TSan in deterministic mode (release or
// acquire on obj), from inside or outside an rt_region. Nothing otherwise.
inline void san_edge([[maybe_unused]] const void* obj, [[maybe_unused]] bool release) noexcept {
#if GORO_DETAIL_TSAN_DET
  san_fiber* f = rt_region::current();
  bool in = f != nullptr && __atomic_load_n(&f->ignore, __ATOMIC_RELAXED) != 0;
  if (in) san_ignore_end();
  if (release) __tsan_release(const_cast<void*>(obj));
  else __tsan_acquire(const_cast<void*>(obj));
  if (in) san_ignore_begin();
#endif
}

// plain_threads_waiting counts plain OS threads inside a goro call that may
// park or ready (process-wide): while any is, checkdead cannot call a deadlock
// (such a thread may ready a goroutine at any moment).
inline std::atomic<std::int64_t> plain_threads_in_goro{0};

// ---------------------------------------------------------------------------
// g cache: pooled Gs with their stacks (Go: gfget / gfput). One pool per stack
// size, process-wide (runtimes with the same stack_size share it).

class g_pool {
 public:
  explicit g_pool(std::size_t usable) : space_(usable) {}
  stack_space& space() noexcept { return space_; }

  // take moves up to n warm Gs into the list at *head (which must be empty)
  // and returns how many. Whole batches move in O(1), without touching the
  // Gs (each lives on its own stack page: walking a list costs a cache miss
  // per G).
  std::uint32_t take(g** head, std::uint32_t n) {
    rt_lock_guard lk(mu_);
    if (warm_.empty() || n == 0) return 0;
    g_batch& b = warm_.back();
    std::uint32_t k;
    if (b.n <= n) {
      *head = b.head;
      k = b.n;
      warm_.pop_back();
    } else {  // a plain thread takes one at a time
      k = 0;
      while (k < n) {
        g* gp = b.head;
        b.head = gp->schedlink;
        gp->schedlink = *head;
        *head = gp;
        ++k;
      }
      b.n -= k;
    }
    nwarm_ -= k;
    low_water_ = std::min(low_water_, nwarm_);
    return k;
  }

  // put returns a list of n Gs to the pool, as one batch. Never makes a
  // system call: stacks beyond the warm cap go back to the OS only in
  // scavenge(), off the hot path.
  void put(g* list, std::uint32_t n) {
    if (list == nullptr) return;
    rt_lock_guard lk(mu_);
    warm_.push_back(g_batch{list, n});
    nwarm_ += n;
  }

  // scavenge returns to the OS the stacks of warm Gs that nobody took since
  // the last scavenge (the pool's low-water mark), beyond the warm cap
  // (stack.hpp, "Release"), at most every scavenge_period_ns. Ms going idle
  // call it, so after a burst of goroutines RSS falls once the burst is over;
  // force (run()'s end) releases everything beyond the cap at once.
  void scavenge(bool force = false) {
    std::int64_t now = nanotime();
    if (!force && now - last_scavenge_.load(std::memory_order_relaxed) < scavenge_period_ns) return;
    std::vector<g_batch> victims;
    {
      rt_lock_guard lk(mu_);
      if (!force && now - last_scavenge_.load(std::memory_order_relaxed) < scavenge_period_ns) return;
      last_scavenge_.store(now, std::memory_order_relaxed);
      std::size_t idle = force ? nwarm_ : std::min(nwarm_, low_water_);
      // Oldest batches first: they sit at the front.
      std::size_t k = 0;
      while (k < warm_.size() && idle >= gcache_global_warm_max + warm_[k].n) {
        idle -= warm_[k].n;
        nwarm_ -= warm_[k].n;
        victims.push_back(warm_[k]);
        ++k;
      }
      warm_.erase(warm_.begin(), warm_.begin() + static_cast<std::ptrdiff_t>(k));
      low_water_ = nwarm_;
    }
    for (const g_batch& b : victims)
      for (g* gp = b.head; gp != nullptr;) {
        g* next = gp->schedlink;      // read before the page is dropped
        stack_slot slot = gp->stack;  // likewise: gp lives in that page
        space_.release(slot);
        gp = next;
      }
  }

  // fresh links up to n Gs on never-used or released (cold) slots into *head;
  // returns how many (0 if the OS refuses).
  std::uint32_t fresh(g** head, std::uint32_t n) {
    std::vector<stack_slot> got;
    got.reserve(n);
    space_.reserve_batch(got, n, [](const stack_slot& s) { new_g_at(s); });
    for (const stack_slot& s : got) {
      g* gp = g_at_top(s.hi);
      gp->schedlink = *head;
      *head = gp;
    }
    return static_cast<std::uint32_t>(got.size());
  }

  // g_at returns the g at the top of a slot (for walks over all slots).
  static g* g_at_top(char* top) noexcept {
    auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(g)) & ~std::uintptr_t{63};
    return reinterpret_cast<g*>(addr);
  }

 private:
  static g* new_g_at(const stack_slot& s) {
    g* gp = g_at_top(s.hi);
    ::new (static_cast<void*>(gp)) g();
    gp->stack = s;
    return gp;
  }

  struct g_batch {
    g* head;          // linked through g.schedlink
    std::uint32_t n;
  };
  rt_mutex mu_;
  std::vector<g_batch> warm_;  // guarded by mu_
  std::size_t nwarm_ = 0;      // guarded by mu_
  std::size_t low_water_ = 0;  // guarded by mu_: the fewest warm Gs since the last scavenge
  std::atomic<std::int64_t> last_scavenge_{0};  // written under mu_
  stack_space space_;
};


// pool_for returns the process-wide g pool for a stack size. Pools live
// forever (their slots may belong to goroutines of the default runtime, which
// is abandoned at exit).
inline g_pool& pool_for(std::size_t stack_size) {
  static rt_mutex mu;
  static auto* pools = new std::vector<g_pool*>;  // leaked on purpose: see above
  std::size_t usable = stack_space::round_up(stack_size);
  rt_lock_guard lk(mu);
  for (g_pool* gp : *pools)
    if (gp->space().usable() == usable) return *gp;
  pools->push_back(new g_pool(usable));
  return *pools->back();
}

// ---------------------------------------------------------------------------
// sched_t: one runtime (Go: schedt plus allp and allm).

// netpoller: what the scheduler needs from the netpoller (netpoll.hpp
// implements it with epoll; a kqueue backend would implement the same two
// calls). Created lazily, on the first fd wait of a runtime.
struct netpoller {
  virtual ~netpoller() = default;
  // poll returns the goroutines that fd events made runnable, linked through
  // g.schedlink, waiting at most timeout_ns for one (0: do not block; < 0:
  // until an event or wake()). Any M; one blocking poll at a time.
  virtual g* poll(std::int64_t timeout_ns) noexcept = 0;
  // wake makes a blocked poll return at once (Go: netpollBreak). Any thread.
  virtual void wake() noexcept = 0;
};

// global_runq: the global run queue (Go: sched.runq), a FIFO of G pointers
// in chunks of chunk_cap. Go links its queue through g.schedlink; here a G
// lives at the top of its own stack, pages apart from the next, so walking or
// linking a list costs a cache and TLB miss per G: that walk was the hottest
// loop of find_runnable in skynet, which spills half a local ring (129 Gs) at
// a time and takes up to 128 back. With chunks, a spill and a take copy
// pointers and never touch the Gs (each is touched when it runs anyway).
// Requires sched_t::lock for everything. Empty chunks are kept for reuse, at
// most spare_max of them; the rest are freed.
class global_runq {
 public:
  global_runq() = default;
  global_runq(const global_runq&) = delete;
  global_runq& operator=(const global_runq&) = delete;
  ~global_runq() {
    for (chunk* lists : {first_, spare_})
      for (chunk* c = lists; c != nullptr;) {
        chunk* next = c->next;
        delete c;
        c = next;
      }
  }

  void push(g* gp) noexcept {
    if (last_ == nullptr || last_->tail == chunk_cap) append();
    last_->slots[last_->tail++] = gp;
  }

  void push_batch(g* const* gs, std::uint32_t n) noexcept {
    while (n > 0) {
      if (last_ == nullptr || last_->tail == chunk_cap) append();
      std::uint32_t k = std::min(n, chunk_cap - last_->tail);
      std::copy(gs, gs + k, last_->slots + last_->tail);
      last_->tail += k;
      gs += k;
      n -= k;
    }
  }

  // pop removes the oldest G; the queue must not be empty.
  g* pop() noexcept {
    chunk* c = first_;
    g* gp = c->slots[c->head++];
    if (c->head == c->tail) {
      first_ = c->next;
      if (first_ == nullptr) last_ = nullptr;
      recycle(c);
    }
    return gp;
  }

 private:
  static constexpr std::uint32_t chunk_cap = 256;  // holds a whole spill (p_runq::capacity / 2 + 1) in one chunk
  static constexpr std::uint32_t spare_max = 8;
  struct chunk {
    chunk* next = nullptr;
    std::uint32_t head = 0;  // next to pop
    std::uint32_t tail = 0;  // next free slot
    g* slots[chunk_cap];
  };

  void append() noexcept {
    chunk* c = spare_;
    if (c != nullptr) {
      spare_ = c->next;
      --nspare_;
      c->next = nullptr;
      c->head = c->tail = 0;
    } else {
      c = new (std::nothrow) chunk;
      if (c == nullptr) fatal("globrunqput: out of memory");
    }
    if (last_ != nullptr) last_->next = c;
    else first_ = c;
    last_ = c;
  }

  void recycle(chunk* c) noexcept {
    if (nspare_ >= spare_max) {
      delete c;
      return;
    }
    c->next = spare_;
    spare_ = c;
    ++nspare_;
  }

  chunk* first_ = nullptr;
  chunk* last_ = nullptr;
  chunk* spare_ = nullptr;
  std::uint32_t nspare_ = 0;
};

struct sched_t {
  explicit sched_t(const config& c, bool is_default);
  ~sched_t();
  sched_t(const sched_t&) = delete;
  sched_t& operator=(const sched_t&) = delete;

  config cfg;
  bool is_default;               // the process-wide default runtime: never checks for deadlock, never shuts down
  g_pool* pool;                  // g and stack cache for cfg.stack_size
  std::vector<p*> allp;          // immutable after construction

  rt_mutex lock;                 // Go: sched.lock. Guards the fields below marked "lock".
  global_runq runq;              // lock: the global run queue (see global_runq)
  std::atomic<std::int32_t> runq_size{0};  // written under lock; read racily as a hint
  p* pidle = nullptr;            // lock: idle Ps
  std::atomic<std::int32_t> npidle{0};     // written under lock; read racily (wakep's hint)
  m* midle = nullptr;            // lock: idle Ms
  std::int32_t nmidle = 0;       // lock
  std::int32_t nmidlelocked = 0; // lock: Ms parked for their locked G
  std::int32_t mcount = 0;       // lock: Ms alive
  std::int32_t mnext = 0;        // lock: next M id
  m* allm = nullptr;             // lock: every M ever made by this runtime
  std::atomic<std::int32_t> nmspinning{0};  // spinning Ms; see "Spinning Ms"
  bool stopping = false;         // lock: run() is shutting the Ms down

  // Goroutine ids: blocks of goid_batch handed to Ps; plain threads take one each.
  std::atomic<std::uint64_t> goid_gen{0};
  std::atomic<std::uint64_t> extra_created{0};  // goroutines spawned by plain threads (no P)

  // Timers: one heap per P (p::timers); see "Timers" below.
  m* timer_m = nullptr;             // lock: the idle M sleeping until the earliest timer (or blocked in poll)
  // timer_m_until: what timer_m sleeps until (no_timer: an fd event), or
  // no_sleeper. Written under lock (seq_cst); read without it by adders: see
  // "Timer M wake-ups".
  std::atomic<std::int64_t> timer_m_until{no_sleeper};
  bool timer_m_polls = false;       // lock: timer_m waits in netpoller::poll, not on its note

  // sysmon (see "sysmon" below).
  pthread_t sysmon_thread{};
  note sysmon_note;                         // sysmon sleeps here between rounds
  // sysmon_deep: sysmon is in a sleep of sysmon_deep_sleep_ns or more; the
  // first lazy blocking call meanwhile wakes it (sysmon_kick). Set by sysmon
  // before it sleeps, cleared by it or by the kicker's exchange.
  std::atomic<bool> sysmon_deep{false};
  std::atomic<bool> sysmon_stop{false};
  std::atomic<std::int64_t> last_poll{0};   // nanotime() of the last netpoller::poll
  std::atomic<std::int64_t> coarse_now{0};  // nanotime() as of sysmon's last round: cheap "when did it park"
  std::int64_t start_ns = nanotime();       // immutable: for schedtrace's timestamps
  std::int64_t schedtrace_ns = 0;           // immutable: $GORO_DEBUG=schedtrace=MS, 0 = off

  // Netpoller (netpoll.hpp). np is set once, under lock, and never changes.
  std::atomic<netpoller*> np{nullptr};
  std::atomic<std::int32_t> netpoll_waiters{0};  // goroutines parked on fds now

  // Run and shutdown state.
  note done;                        // run()'s caller sleeps here
  std::atomic<bool> main_done{false};
  std::atomic<bool> deadlocked{false};
  std::atomic<bool> exiting{false}; // see "Unwinding at shutdown"
  std::string deadlock_report;      // written under lock by checkdead
  std::exception_ptr main_exception;  // written by the main goroutine before main_done
#if GORO_DETERMINISTIC
  det_state* det = nullptr;         // the seeded scheduler's state; set by det_run before any goroutine
#endif
};

// ---------------------------------------------------------------------------
// g cache (Go: gfput / gfget). Owner P only, or pp == nullptr for plain threads.

inline void gfput(sched_t* s, p* pp, g* gp) {
  gp->status.store(gstatus::dead, std::memory_order_release);
  if (pp == nullptr) {
    gp->schedlink = nullptr;
    s->pool->put(gp, 1);
    return;
  }
  gp->schedlink = pp->gfree;
  pp->gfree = gp;
  if (++pp->ngfree >= gcache_local_max) {
    // Move half to the process-wide pool.
    // The first half of the list goes (the Gs freed longest ago: least likely
    // to be in this cache).
    g* keep_tail = pp->gfree;
    for (std::uint32_t i = 1; i < gcache_local_max / 2; ++i) keep_tail = keep_tail->schedlink;
    g* list = keep_tail->schedlink;
    keep_tail->schedlink = nullptr;
    std::uint32_t n = pp->ngfree - gcache_local_max / 2;
    pp->ngfree = gcache_local_max / 2;
    s->pool->put(list, n);
  }
}

inline g* gfget(sched_t* s, p* pp) {
  if (pp == nullptr) {
    g* one = nullptr;
    if (s->pool->take(&one, 1) == 0 && s->pool->fresh(&one, 1) == 0) return nullptr;
    return one;
  }
  if (pp->gfree == nullptr) {
    std::uint32_t n = s->pool->take(&pp->gfree, gcache_local_max / 2);
    if (n == 0) n = s->pool->fresh(&pp->gfree, gcache_local_max / 2);
    pp->ngfree += n;
    if (n == 0) return nullptr;
  }
  g* gp = pp->gfree;
  pp->gfree = gp->schedlink;
  --pp->ngfree;
  // The next free G was last written by whichever M ran it: start pulling its
  // lines over now, for the next spawn (newproc writes all of them).
  if (g* next = pp->gfree) {
    const char* c = reinterpret_cast<const char*>(next);
    for (std::size_t off = 0; off < sizeof(g); off += 64) __builtin_prefetch(c + off, 1);
  }
  return gp;
}

// ---------------------------------------------------------------------------
// Switching.

[[noreturn]] inline void stack_overflow_fatal(g* gp) noexcept;

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
  s->runq.push(gp);
  s->runq_size.store(s->runq_size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

inline void globrunqput_batch_locked(sched_t* s, g* const* gs, std::uint32_t n) noexcept {
  s->runq.push_batch(gs, n);
  s->runq_size.store(s->runq_size.load(std::memory_order_relaxed) + static_cast<std::int32_t>(n), std::memory_order_relaxed);
}

// globrunqget takes a batch from the global queue: one to run, the rest into
// pp's local queue (Go: globrunqget). Requires s->lock. Owner P.
inline g* globrunqget_locked(sched_t* s, p* pp, std::int32_t max) noexcept {
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
#if GORO_DETERMINISTIC
  (void)pp;
  (void)next;
  det_put(s, gp);
  return;
#endif
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
    // A stride coprime with n visits every P once: odd strides are coprime with
    // powers of two; in general, step through a stride of 1.
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

inline void mstart(m* mp);

// pidleput / pidleget: the idle P list. Require s->lock.
inline void pidleput_locked(sched_t* s, p* pp) noexcept {
  pp->mp.store(nullptr, std::memory_order_relaxed);
  pp->status.store(p_idle, std::memory_order_relaxed);
  pp->link = s->pidle;
  s->pidle = pp;
  s->npidle.store(s->npidle.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
}
inline p* pidleget_locked(sched_t* s) noexcept {
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

inline void checkdead_locked(sched_t* s) noexcept;
// timers_earliest: the earliest timer over every P's heap (see "Timers").
inline std::int64_t timers_earliest(sched_t* s) noexcept;
inline std::int64_t timer_m_publish_until(sched_t* s, std::int64_t next) noexcept;

// newm starts a new M (thread) that will run with pp. Requires s->lock.
inline void newm_locked(sched_t* s, p* pp, bool spinning) {
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
inline void startm(sched_t* s, p* pp, bool spinning) {
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

// wakep wakes an M to run Gs if there is an idle P and no M spinning. Called
// after making a G runnable. Any M or thread. See "Spinning Ms".
// via_runnext: the G was published by runqput(next = true), whose seq_cst
// exchange of runnext already orders it before the loads below (and a
// spinning M's re-check reads runnext), so the #StoreLoad fence is skipped,
// as Go's XCHG-based atomic stores skip it.
inline void wakep(sched_t* s, bool via_runnext = false) {
#if GORO_DETERMINISTIC
  (void)s;
  (void)via_runnext;
  return;  // one thread runs everything
#endif
  if (!via_runnext) full_fence();  // #StoreLoad: the queued G before the npidle/nmspinning reads
  if (s->npidle.load(std::memory_order_seq_cst) == 0) return;
  std::int32_t zero = 0;
  if (s->nmspinning.load(std::memory_order_seq_cst) != 0 ||
      !s->nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst))
    return;
  startm(s, nullptr, true);
}

// handoffp passes a P whose M is leaving it (a locked M about to sleep, an M
// leaving for good) to another M if there is work, else to the idle list
// (Go: handoffp). Any M.
inline void handoffp(sched_t* s, p* pp) {
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
inline bool stopm(m* mp) {
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


// ---------------------------------------------------------------------------
// schedule and find_runnable.

inline void ready(g* gp);

// execute switches from g0 to gp on this M. Requires mp->pp.
inline void execute(m* mp, g* gp) noexcept {
  p* pp = mp->pp;
  pp->schedtick.store(pp->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  pp->add_relaxed(pp->scheduled);
  if (pp->preempt.load(std::memory_order_relaxed)) pp->preempt.store(false, std::memory_order_relaxed);
  gp->status.store(gstatus::running, std::memory_order_relaxed);
  mp->curg = gp;
  gogo(mp, &mp->g0, gp);
}

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

// check_timers runs pp's due timers: one load when none is due. pp's M
// (owner P), on every switch and in find_runnable.
inline void check_timers(p* pp) {
  std::int64_t next = pp->timers.next.load(std::memory_order_relaxed);  // a hint: the heap's lock decides
  if (GORO_DETAIL_UNLIKELY(next != no_timer)) {
    std::int64_t now = nanotime();
    if (now >= next) {
      rt_lock_guard lk(pp->timers.lock);
      pp->timers.run_due_locked(now);
    }
  }
}

// run_other_timers runs the due timers of Ps other than self (a busy P whose
// G does not switch, an idle P, a P whose M is in blocking<>), skipping a
// heap somebody is running right now (Go: stealWork's checkTimers). The Gs
// they ready go to self's queue. Returns whether any fired. Any M holding
// self, on g0.
inline bool run_other_timers(sched_t* s, p* self) {
  std::int64_t now = 0;
  bool fired = false;
  for (p* other : s->allp) {
    if (other == self) continue;
    std::int64_t next = other->timers.next.load(std::memory_order_relaxed);
    if (next == no_timer) continue;
    if (now == 0) now = nanotime();
    if (next > now || !other->timers.lock.try_lock()) continue;
    fired = other->timers.run_due_locked(now) > 0 || fired;
    other->timers.lock.unlock();
  }
  return fired;
}

// schedule leaves the current G (cur), whose pending op is already in
// mp->pending, and runs another: directly when the local queue has one (one
// switch), else through g0 and find_runnable. Returns when cur is resumed
// (never, with exiting: cur's stack is done). Runs on cur's stack; this M only.
inline void schedule(m* mp, g* cur, bool exiting = false) {
  sched_t* s = mp->sched;
#if GORO_DETERMINISTIC
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
  if (next != nullptr) {
    next->status.store(gstatus::running, std::memory_order_relaxed);
    mp->curg = next;
    gogo(mp, cur, next, exiting);
    return;
  }
  mp->curg = nullptr;
  gogo(mp, cur, &mp->g0, exiting);
  return;
#endif
  if (mp->lockedg == nullptr && !mp->exiting) {
    bool inherit;
    g* gp = runq_next(s, mp->pp, &inherit);
    if (gp != nullptr) {
      if (gp->lockedm == nullptr) {
        p* pp = mp->pp;
        if (!inherit) pp->schedtick.store(pp->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        pp->add_relaxed(pp->scheduled);
        if (!inherit && pp->preempt.load(std::memory_order_relaxed)) pp->preempt.store(false, std::memory_order_relaxed);
        gp->status.store(gstatus::running, std::memory_order_relaxed);
        mp->curg = gp;
        gogo(mp, cur, gp, exiting);
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
inline void injectglist(sched_t* s, g* list) {
  if (list == nullptr) return;
#if GORO_DETERMINISTIC
  while (list != nullptr) {  // one thread: straight into the runnable set
    g* gp = list;
    list = gp->schedlink;
    gp->schedlink = nullptr;
    gp->status.store(gstatus::runnable, std::memory_order_relaxed);
    det_put(s, gp);
  }
  return;
#endif
  int n = 0;
  {
    rt_lock_guard lk(s->lock);
    while (list != nullptr) {
      g* gp = list;
      list = gp->schedlink;
      gp->status.store(gstatus::runnable, std::memory_order_relaxed);
      globrunqput_locked(s, gp);
      ++n;
    }
  }
  for (; n > 0 && s->npidle.load(std::memory_order_relaxed) > 0; --n) startm(s, nullptr, false);
}

// netpoll_nonblocking: Go's netpoll(0) in findRunnable: if goroutines wait
// on fds, collect the ready ones: the first to run now, the rest to the global
// queue. (Go skips it while an M is blocked in poll; with epoll both may poll
// at once.) Owner P.
inline g* netpoll_nonblocking(sched_t* s) {
  netpoller* np = s->np.load(std::memory_order_acquire);
  if (np == nullptr || s->netpoll_waiters.load(std::memory_order_relaxed) == 0) return nullptr;
  s->last_poll.store(nanotime(), std::memory_order_relaxed);
  g* list = np->poll(0);
  if (list == nullptr) return nullptr;
  g* first = list;
  injectglist(s, first->schedlink);
  first->schedlink = nullptr;
  return first;
}

// find_runnable finds a G to run: local, global, steal, else sleep. Returns
// nullptr when the M must exit (shutdown). This M, on g0, holding a P on entry
// and on return (Go: findRunnable).
inline g* find_runnable(m* mp) {
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
    if (s->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) fatal("find_runnable: negative nmspinning");
    full_fence();  // #StoreLoad: nmspinning before the run queue re-check
    // The global queue too: a plain thread (or the unwinder, or sysmon) that
    // queued a G there may have seen this M still spinning and woken nobody.
    if (s->runq_size.load(std::memory_order_seq_cst) != 0) {
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
    for (p* other : s->allp) {
      if (!other->runq.empty()) {
        s->lock.lock();
        p* got = pidleget_locked(s);
        s->lock.unlock();
        if (got != nullptr) {
          acquirep(mp, got);
          mp->spinning = true;
          s->nmspinning.fetch_add(1, std::memory_order_seq_cst);
          goto top;
        }
        break;
      }
    }
  }
  // Timers and fds: one idle M (timer_m) waits until the earliest timer of
  // any P, in the netpoller if goroutines wait on fds (Go: the M blocked in
  // netpoll), else on its note. An earlier timer added meanwhile wakes it:
  // see "Timer M wake-ups".
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
        list = np->poll(wait);
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
        if (list != nullptr) {
          g* first = list;
          injectglist(s, first->schedlink);
          first->schedlink = nullptr;
          return first;
        }
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
inline void reset_spinning(m* mp) {
  mp->spinning = false;
  sched_t* s = mp->sched;
  if (s->nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) fatal("reset_spinning: negative nmspinning");
  wakep(s);
}

// startlockedm hands this M's P and gp to the M gp is locked to, which is
// asleep in stoplockedm (Go: startlockedm). This M, on g0; it then has no P.
inline void startlockedm(m* mp, g* gp) {
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
inline bool stoplockedm(m* mp) {
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
inline void mexit(m* mp) {
  sched_t* s = mp->sched;
  p* pp = releasep(mp);
  {
    rt_lock_guard lk(s->lock);
    --s->mcount;
  }
  handoffp(s, pp);
}

// ---------------------------------------------------------------------------
// Pending ops. See "Parking".

inline void g_destroy_closure(g* gp) noexcept;
inline void ready(g* gp);

// ---------------------------------------------------------------------------
// Claiming a parked G (shutdown only).
//
// The unwinder finds parked Gs by walking every stack slot, so what it reads
// may be stale: the G may be leaving its park right now, and then the object
// its wait record names may be destroyed. try_cancel_park therefore first
// claims the park (parkstate: cancellable -> claimed), then, after a heavy
// fence, checks that the claim still holds and the G is still waiting. The
// G, on leaving park(), does light_fence and waits while its parkstate is
// claimed. Either the G's "running" status (stored before its light fence by
// the M that resumed it) is visible after the heavy fence, or the G sees the
// claim and waits: the G never leaves park while its record is being
// cancelled. Any thread.
inline void try_cancel_park(g* gp, sched_t* s) noexcept {
  std::uint8_t expect = park_cancellable;
  if (!gp->parkstate.compare_exchange_strong(expect, park_claimed, std::memory_order_acq_rel)) return;
  heavy_fence();
  if (gp->parkstate.load(std::memory_order_acquire) == park_claimed && gp->sched == s &&
      gp->status.load(std::memory_order_acquire) == gstatus::waiting && gp->unwind.load(std::memory_order_relaxed) == 0 &&
      gp->cancel != nullptr && gp->cancel(gp, gp->cancel_arg)) {
    gp->unwind.store(1, std::memory_order_relaxed);
    ready(gp);
  }
  expect = park_claimed;
  gp->parkstate.compare_exchange_strong(expect, park_released, std::memory_order_acq_rel);
}

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
      gp->status.store(gstatus::waiting, std::memory_order_release);
      if (op.unlock != nullptr && !op.unlock(gp, op.arg)) {
        gp->status.store(gstatus::runnable, std::memory_order_relaxed);
        runqput(s, mp->pp, gp, true);
        break;
      }
      // From here a waker may already have readied gp, and another M resumed
      // it. A late store of park_cancellable is harmless: try_cancel_park
      // checks that gp is still waiting after claiming it.
      if (cancel != nullptr) {
        gp->parkstate.store(park_cancellable, std::memory_order_release);
        light_fence();  // Dekker with run_main's exiting store; see "Unwinding at shutdown"
        if (GORO_DETAIL_UNLIKELY(s->exiting.load(std::memory_order_relaxed))) try_cancel_park(gp, s);
      }
      break;
    }
    case pending_kind::yield:
      op.gp->status.store(gstatus::runnable, std::memory_order_relaxed);
      runqput(mp->sched, mp->pp, op.gp, false);
      break;
    case pending_kind::exit: {
      g* gp = op.gp;
      san_fiber_destroy(gp->san);
      gfput(mp->sched, mp->pp, gp);
      break;
    }
    case pending_kind::exitsyscall: {
      // Back from blocking<> with no P free: the G waits on the global queue
      // and this M goes idle (Go: exitsyscall0).
      op.gp->status.store(gstatus::runnable, std::memory_order_relaxed);
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
// The park/ready seam.

// ready makes gp runnable: on the current P if the caller is an M of gp's
// runtime, else on the global queue; then wakes an M if one is needed.
// Any M or plain thread (Go: ready).
inline void ready(g* gp) {
  if (gp->is_thread) {
    gp->thread_note.wakeup();
    return;
  }
  sched_t* s = gp->sched;
  gp->status.store(gstatus::runnable, std::memory_order_relaxed);  // published by the queue's release
#if GORO_DETERMINISTIC
  det_put(s, gp);
  return;
#endif
  m* mp = getm();
  if (mp != nullptr && mp->sched == s && mp->pp != nullptr) {
    runqput(s, mp->pp, gp, true);
    wakep(s, true);
    return;
  }
  {
    rt_lock_guard lk(s->lock);
    globrunqput_locked(s, gp);
  }
  wakep(s);
}

// park_opts: the optional parts of a park.
struct park_opts {
  cancel_fn cancel = nullptr;  // see "Unwinding at shutdown"; nullptr: cannot be unwound while parked
  void* cancel_arg = nullptr;
};

// park blocks the calling goroutine until ready(gp) (Go: gopark). unlock runs
// after the switch away (see "Parking"); a waker can find the G only after it.
// Throws goroutine_exit when the shutdown unwinder cancelled this wait. On a
// plain OS thread it sleeps the thread instead.
inline void park(wait_reason why, unlock_fn unlock, void* arg, park_opts opts = {}) {
  m* mp = getm();
  g* gp = (mp != nullptr && mp->curg != nullptr) ? mp->curg : thread_g();
  gp->why = why;
  gp->cancel = opts.cancel;
  gp->cancel_arg = opts.cancel_arg;
  if (gp->is_thread) {
    gp->thread_note.clear();
    plain_threads_in_goro.fetch_add(1, std::memory_order_seq_cst);
    if (unlock == nullptr || unlock(gp, arg)) gp->thread_note.sleep();
    plain_threads_in_goro.fetch_sub(1, std::memory_order_seq_cst);
    gp->why = wait_reason::none;
    return;
  }
  gp->wait_since = gp->sched->coarse_now.load(std::memory_order_relaxed);
  mp->pending = pending_op{pending_kind::park, gp, unlock, arg};
  schedule(mp, gp);
  if (opts.cancel != nullptr) {
    light_fence();  // see "Claiming a parked G"
    while (GORO_DETAIL_UNLIKELY(gp->parkstate.load(std::memory_order_acquire) == park_claimed)) cpu_relax();
    gp->parkstate.store(park_none, std::memory_order_relaxed);
  }
  gp->why = wait_reason::none;
  if (GORO_DETAIL_UNLIKELY(gp->unwind.load(std::memory_order_relaxed) == 1)) {
    gp->unwind.store(2, std::memory_order_relaxed);
    throw goroutine_exit{};
  }
}

// plain_call_scope marks a plain OS thread as inside a goro call that can
// ready a goroutine (a wait record already dequeued but not yet readied is
// invisible to checkdead). Goroutines skip it: their M is not idle.
class plain_call_scope {
 public:
  plain_call_scope() noexcept : on_(getm() == nullptr) {
    if (on_) plain_threads_in_goro.fetch_add(1, std::memory_order_seq_cst);
  }
  ~plain_call_scope() {
    if (on_) plain_threads_in_goro.fetch_sub(1, std::memory_order_seq_cst);
  }
  plain_call_scope(const plain_call_scope&) = delete;
  plain_call_scope& operator=(const plain_call_scope&) = delete;

 private:
  bool on_;
};

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
#if GORO_DETERMINISTIC
  det_fatal(msg);
#else
  fatal(msg);
#endif
}

// unwind_point throws goroutine_exit if the runtime is unwinding and this G has
// not been unwound yet: yield's check (API.md: "blocking call or yield()").
inline void unwind_point(g* gp) {
  if (GORO_DETAIL_UNLIKELY(gp->sched->exiting.load(std::memory_order_relaxed)) &&
      gp->unwind.load(std::memory_order_relaxed) == 0) {
    gp->unwind.store(2, std::memory_order_relaxed);
    throw goroutine_exit{};
  }
}

// ---------------------------------------------------------------------------
// Timers (simple).

// in_blocking: is the caller a goroutine inside blocking<>?
inline bool in_blocking() noexcept {
  m* mp = getm();
  return mp != nullptr && mp->curg != nullptr && mp->curg->in_blocking != 0;
}

// throw_if_blocking: a goro call about to park inside blocking<> throws
// std::logic_error (API.md): the guard is for kernel and foreign calls only.
// Called before any lock is taken for the park.
inline void throw_if_blocking() {
  if (GORO_DETAIL_UNLIKELY(in_blocking()))
    throw std::logic_error("goro::blocking: a goro call that parks (channel, lock, sleep, I/O wait) inside a blocking<> guard");
}

// safe_point: the cooperative preemption point (Go's async preemption is
// signal-based; goro's is not, see DESIGN.md). sysmon marks a P whose G ran
// over 10 ms; that G yields at its next goro call that reaches here (go(), a
// channel operation, select). This M only.
inline void safe_point() {
#if GORO_DETERMINISTIC
  det_point(true);
  return;
#endif
  m* mp = getm();
  if (GORO_DETAIL_LIKELY(mp == nullptr || mp->pp == nullptr || !mp->pp->preempt.load(std::memory_order_relaxed))) return;
  g* gp = mp->curg;
  if (gp == nullptr || gp->in_blocking != 0 || mp->lockedg != nullptr) return;
  mp->pp->preempt.store(false, std::memory_order_relaxed);
  unwind_point(gp);
  mp->pending = pending_op{pending_kind::yield, gp, nullptr, nullptr};
  schedule(mp, gp);
}

// sched_point: a scheduling point of deterministic mode (API.md lists them:
// the sync operations, timer operations, sim::point ...); nothing in threaded
// mode, where the channel operations' safe_point is the preemption point.
// may_unwind = false for operations that may run in destructors (unlock,
// done, notify): they never throw goroutine_exit.
inline void sched_point([[maybe_unused]] bool may_unwind = true) {
#if GORO_DETERMINISTIC
  det_point(may_unwind);
#endif
}

// race_acquire / race_release: the happens-before edges of Go's memory model
// at goro's sync operations (Go: raceacquire / racerelease), for the
// deterministic mode's race detector (sim::shared); nothing in threaded mode,
// where the sync objects' own atomics carry the edges.
inline void race_acquire([[maybe_unused]] const void* obj) noexcept {
#if GORO_DETERMINISTIC
  det_race_acquire(obj);
  if (obj != nullptr) san_edge(obj, false);
#endif
}
inline void race_release([[maybe_unused]] const void* obj) noexcept {
#if GORO_DETERMINISTIC
  det_race_release(obj);
  if (obj != nullptr) san_edge(obj, true);
#endif
}

// ---------------------------------------------------------------------------
// Timers (Go: the scheduler's half of runtime/time.go; the heap is in
// timers.hpp).
//
// Each P owns a timer_heap (p::timers). A timer is added to the heap of the P
// its adder runs on (timer_home); plain threads, and goroutines inside
// blocking<> (no P), use P 0's. It stays there until it fires or is deleted;
// a periodic one is re-armed in place. 100,000 concurrent sleepers cost one
// heap entry each and no thread or fd.
//
// Who runs a P's heap:
//   - its own M, on the arriving side of every switch (run_pending) and at the
//     top of find_runnable: check_timers, one load when nothing is due;
//   - any M in find_runnable, before stealing: the due timers of the other
//     Ps (run_other_timers), for a P that is idle, in blocking<>, or busy with
//     a goroutine that does not switch;
//   - sysmon, for timers overdue by more than sysmon_timer_slack_ns (every M
//     busy, or the one idle M not woken): sysmon_run_timers.
// Who sleeps until them: one idle M, timer_m (find_runnable), until the
// earliest over every heap (timers_earliest), in the netpoller or on its note.
// handoffp starts an M for a P it hands off while timers are pending and no M
// is timer_m, so pending timers are always watched.
//
// Timer M wake-ups (a Dekker pair). An add that is earlier than what timer_m
// sleeps for must wake it, without every add taking sched.lock:
//   timer_m: under sched.lock, stores timer_m_until (seq_cst), then re-reads
//     timers_earliest (seq_cst loads of every heap's next) and starts over
//     with the new value if it changed (timer_m_publish_until);
//   adder:   publishes the heap's next (seq_cst store, timer_heap::publish),
//     then loads timer_m_until (seq_cst); only if its when is earlier does it
//     take sched.lock and wake timer_m (timer_wake_sleeper).
// Either timer_m's re-read sees the new timer, or the adder sees the
// sleeper's until. Deleting the earliest timer is the same pair with
// timer_wake_after_del (del_locked's store is seq_cst too, and timer_m
// starts over when the earliest got later as well as earlier: else it could
// sleep until a timer it saw deleted, while the deleter missed its until). no_sleeper (INT64_MIN) makes the adder's check fail at
// once when no M sleeps: then the adder's own M (it holds the P whose heap it
// added to) watches the timer, and becomes timer_m if it goes idle; an adder
// without a P (a plain thread) wakes an M instead (wakep).
// Deleting the timer timer_m sleeps for wakes it too (timer_wake_after_del):
// it then sleeps for the next one, or goes idle so that checkdead can see
// that nothing is pending.

// timers_earliest: the earliest pending timer over every P, or no_timer. Any
// thread; a snapshot (seq_cst loads: see "Timer M wake-ups").
inline std::int64_t timers_earliest(sched_t* s) noexcept {
  std::int64_t next = no_timer;
  for (p* pp : s->allp) next = std::min(next, pp->timers.earliest());
  return next;
}

// timer_m_publish_until: the timer M's side of "Timer M wake-ups": stores
// what it will sleep until, re-reading the heaps until that is stable.
// Returns it. Requires s->lock; the caller is timer_m.
inline std::int64_t timer_m_publish_until(sched_t* s, std::int64_t next) noexcept {
  for (;;) {
    s->timer_m_until.store(next, std::memory_order_seq_cst);
    std::int64_t again = timers_earliest(s);
    if (again == next) return next;
    next = again;
  }
}

// timer_home: the heap an add by the caller goes to, and whether the caller
// holds that heap's P (then its own M watches the timer). Any thread.
inline timer_heap* timer_home(sched_t* s, bool* on_p = nullptr) noexcept {
  m* mp = getm();
  bool mine = mp != nullptr && mp->sched == s && mp->pp != nullptr;
  if (on_p != nullptr) *on_p = mine;
  return mine ? &mp->pp->timers : &s->allp[0]->timers;
}

// timer_wake_sleeper: a timer at `when` was added: if timer_m sleeps for
// later, wake it (the adder's side of "Timer M wake-ups"). Returns false if
// no M sleeps for timers. Call without any heap lock.
inline bool timer_wake_sleeper(sched_t* s, std::int64_t when) {
  std::int64_t until = s->timer_m_until.load(std::memory_order_seq_cst);
  if (until == no_sleeper) return false;
  if (when >= until) return true;
  rt_lock_guard lk(s->lock);
  if (s->timer_m == nullptr) return false;
  if (when >= s->timer_m_until.load(std::memory_order_relaxed)) return true;
  if (s->timer_m_polls) s->np.load(std::memory_order_acquire)->wake();
  else s->timer_m->park.wakeup();
  return true;
}

// timer_wake_after_del: the earliest timer of a heap (when) was deleted: if
// timer_m sleeps until it, wake it, so that it sleeps for the next timer
// instead, or goes idle and lets checkdead see that no timer is left (a
// deadlock is then reported at once, not at the deleted timer's deadline).
// Call without any heap lock.
inline void timer_wake_after_del(sched_t* s, std::int64_t when) noexcept {
  std::int64_t until = s->timer_m_until.load(std::memory_order_seq_cst);
  if (until == no_sleeper || when > until) return;
  rt_lock_guard lk(s->lock);
  if (s->timer_m == nullptr || when > s->timer_m_until.load(std::memory_order_relaxed)) return;
  if (s->timer_m_polls) s->np.load(std::memory_order_acquire)->wake();
  else s->timer_m->park.wakeup();
}

// timer_added: after an add to h (on_p: by h's P's own M) made t the
// earliest of h (earliest), or not: wake whoever must watch it.
inline void timer_added(sched_t* s, std::int64_t when, bool earliest, bool on_p) {
  if (!earliest) return;  // h's earliest, which timer_m already accounts for, is sooner
  if (!timer_wake_sleeper(s, when) && !on_p) wakep(s);
}

// timer_add arms t (not pending) at t->when in the caller's heap
// (timer_home). Only t's owner (timers.hpp). Any M or thread.
inline void timer_add(sched_t* s, rtimer* t) {
  bool on_p;
  timer_heap* h = timer_home(s, &on_p);
  std::int64_t when = t->when;  // t may fire, and its owner go away, once the lock is released
  bool earliest;
  {
    rt_lock_guard lk(h->lock);
    earliest = h->add_locked(t);
  }
  timer_added(s, when, earliest, on_p);
}

// timer_del disarms t; returns whether it was pending. After it returns, t's
// f is neither running nor going to run. Only t's owner (or the shutdown
// unwinder for it). Any M or thread.
inline bool timer_del(sched_t* s, rtimer* t) noexcept {
  timer_heap* h = t->heap.load(std::memory_order_relaxed);  // stable: see timers.hpp
  if (h == nullptr) return false;                           // never armed
  bool was_earliest;
  std::int64_t when;
  {
    rt_lock_guard lk(h->lock);
    if (!t->pending()) return false;
    was_earliest = h->is_earliest_locked(t);
    when = t->when;
    h->del_locked(t);
  }
  if (was_earliest) timer_wake_after_del(s, when);
  return true;
}

// run_timers fires every P's timers due by now: the deterministic
// scheduler's jump of its virtual clock (det.hpp). Any thread holding no heap
// lock.
inline void run_timers(sched_t* s, std::int64_t now) {
  for (p* pp : s->allp) {
    rt_lock_guard lk(pp->timers.lock);
    pp->timers.run_due_locked(now);
  }
}

// sysmon_run_timers: sysmon's backstop. Fires the timers of a P that no M
// ran in time (sysmon_timer_slack_ns: the P idle or in blocking<>;
// sysmon_timer_slack_running_ns: its goroutine never switches). Goroutines
// they ready go to the global queue. Sysmon only (a plain thread: counted in
// plain_threads_in_goro meanwhile, so that checkdead never sees a fired timer
// whose goroutine is not readied yet).
inline void sysmon_run_timers(sched_t* s, std::int64_t now) {
  if (timers_earliest(s) > now - sysmon_timer_slack_ns) return;
  plain_call_scope scope;
  for (p* pp : s->allp) {
    std::int64_t slack = pp->status.load(std::memory_order_relaxed) == p_running ? sysmon_timer_slack_running_ns : sysmon_timer_slack_ns;
    if (pp->timers.next.load(std::memory_order_relaxed) > now - slack || !pp->timers.lock.try_lock()) continue;
    pp->timers.run_due_locked(nanotime());
    pp->timers.lock.unlock();
  }
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
      &t, park_opts{[](g* gp, void* tp) noexcept { return timer_del(gp->sched, static_cast<rtimer*>(tp)); }, &t});
}

// to_ns: a duration in ns, saturated so that nanotime() + it cannot overflow.
template <class Rep, class Period>
std::int64_t to_ns(std::chrono::duration<Rep, Period> d) noexcept {
  using namespace std::chrono;
  if (d <= d.zero()) return 0;
  constexpr auto cap = duration<double>(100.0 * 365 * 24 * 3600);  // 100 years
  if (duration<double>(d) >= cap) return INT64_MAX / 4;
  return ceil<nanoseconds>(d).count();
}

// deadline_ns: a goro::clock time point as a nanotime() value.
// Saturates: time_point::min() (or any past time) is now, and a far future
// (time_point::max()) is to_ns's cap. t - now is computed only when t > now,
// so it cannot overflow (now is positive: the steady clock counts from boot).
inline std::int64_t deadline_ns(clock::time_point t) noexcept {
  clock::time_point now = clock::now();
  std::int64_t now_ns = nanotime();
  if (t <= now) return now_ns;
  return now_ns + to_ns(t - now);
}

// ---------------------------------------------------------------------------
// checkdead (Go: checkdead). Called with s->lock held whenever an M goes idle:
// if no M is running, no plain thread is inside a goro call, no G is queued
// and no timer is pending, every goroutine is parked on a goro object for
// good. run() is woken to report it (it builds the dump: nothing can change now).
inline void checkdead_locked(sched_t* s) noexcept {
  if (s->is_default || s->main_done.load(std::memory_order_relaxed) || s->deadlocked.load(std::memory_order_relaxed) ||
      s->exiting.load(std::memory_order_relaxed))
    return;
  if (s->mcount - s->nmidle - s->nmidlelocked > 0) return;
  if (plain_threads_in_goro.load(std::memory_order_seq_cst) > 0) return;
  if (s->runq_size.load(std::memory_order_relaxed) != 0) return;
  for (p* pp : s->allp)
    if (!pp->runq.empty()) return;
  if (timers_earliest(s) != no_timer) return;
  if (s->netpoll_waiters.load(std::memory_order_acquire) > 0) return;  // an fd event may wake someone
  s->deadlocked.store(true, std::memory_order_release);
  s->done.wakeup();
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
  san_edge(self->sched, true);  // this goroutine's end happens before run() returns
  rt_region rt;                 // never ends: goexit switches away for good
  goexit(self);
}

// panic_abort ends the process for an exception escaping a goroutine other
// than main, with API.md's message.
// panic_text: API.md's message for an exception e escaping goroutine gp.
inline std::string panic_text(g* gp, std::exception_ptr e) {
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
  out += gp->site.file;
  out += ":";
  out += fmt_u64(buf, gp->site.line);
  out += "\n";
  return out;
}

[[noreturn]] inline void panic_abort(g* gp, std::exception_ptr e) noexcept {
  std::string text = panic_text(gp, e);
  write_err(text.c_str(), text.size());
  std::abort();
}

// closure_of stores the decay-copied callable and arguments of a goroutine.
template <class F, class... A>
struct closure {
  std::decay_t<F> f;
  std::tuple<std::decay_t<A>...> args;
  void operator()() { std::apply([this](auto&... a) { std::invoke(std::move(f), std::move(a)...); }, args); }
};

template <class C>
void g_body(g* gp) {
  C* c = static_cast<C*>(gp->closure);
  // A goroutine that was still queued when the runtime began unwinding never
  // starts: its closure is destroyed unrun.
  if (!(gp->sched->exiting.load(std::memory_order_relaxed) && gp->unwind.load(std::memory_order_relaxed) == 0)) {
    try {
      (*c)();
    } catch (goroutine_exit&) {
    } catch (...) {
#if GORO_DETERMINISTIC
      if (!gp->is_main) det_fail(gp->sched, std::make_exception_ptr(panic_error(panic_text(gp, std::current_exception()))));
#else
      if (!gp->is_main) panic_abort(gp, std::current_exception());
#endif
      if (gp->is_main) gp->sched->main_exception = std::current_exception();
    }
  }
  g_destroy_closure(gp);
}

inline void g_destroy_closure(g* gp) noexcept {
  if (gp->destroy != nullptr) gp->destroy(gp->closure);
  gp->destroy = nullptr;
}

// newproc creates a goroutine running c on runtime s and queues it (Go:
// newproc). The closure goes on the new stack, below its g, unless it is large.
template <class C>
void newproc(sched_t* s, C&& c, source_loc site, bool is_main = false) {
  using CT = std::decay_t<C>;
  rt_region rt;
  safe_point();
  m* mp = getm();
  p* pp = (mp != nullptr && mp->sched == s) ? mp->pp : nullptr;
  g* gp = gfget(s, pp);
  if (gp == nullptr) fatal("newproc: out of memory for goroutine stacks");
  // Fields: reset every use (the slot may be recycled).
  gp->sched = s;
  gp->site = site;
  gp->is_main = is_main;
  gp->lockedm = nullptr;
  gp->locked_count = 0;
  gp->why = wait_reason::none;
  gp->cancel = nullptr;
  gp->param = nullptr;
  gp->unwind.store(0, std::memory_order_relaxed);
  gp->saved_errno = 0;
  gp->eh_caught = nullptr;
  gp->eh_uncaught = 0;
  gp->schedlink = nullptr;
  char* lo = gp->stack.lo;
  if (gp->stack.guard == guard_kind::canary) *reinterpret_cast<std::uint64_t*>(lo) = stack_canary_value;
  char* top = reinterpret_cast<char*>(gp);
  std::size_t usable = static_cast<std::size_t>(top - lo);
  if (sizeof(CT) + alignof(CT) <= usable / 8) {
    auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(CT)) & ~(std::uintptr_t{alignof(CT)} - 1);
    gp->closure = ::new (reinterpret_cast<void*>(addr)) CT(std::forward<C>(c));
    gp->closure_on_heap = false;
    top = reinterpret_cast<char*>(addr);
    gp->destroy = [](void* obj) { static_cast<CT*>(obj)->~CT(); };
  } else {
    gp->closure = new CT(std::forward<C>(c));
    gp->closure_on_heap = true;
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
  gp->status.store(gstatus::runnable, std::memory_order_relaxed);
#if GORO_DETERMINISTIC
  det_spawn(s, gp);
#endif
  if (pp != nullptr) {
    pp->created.store(pp->created.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    runqput(s, pp, gp, true);
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
  if (gp->lockedm != nullptr) {  // exited while locked: the thread is not reused
    gp->lockedm = nullptr;
    mp->lockedg = nullptr;
    mp->exiting = true;
  }
  p* pp = mp->pp;
  bool was_main = gp->is_main;
  pp->exited.store(pp->exited.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  light_fence();  // Dekker with run_main's wait for the last goroutine (its heavy_fence)
#if GORO_DETERMINISTIC
  det_exit(s, gp);
  if (was_main) {  // det_next begins the unwinding
    s->exiting.store(true, std::memory_order_relaxed);
    s->main_done.store(true, std::memory_order_relaxed);
  }
#else
  if (was_main) {
    // Goroutines not started yet must never start now (Go ends them with the
    // process): unwinding begins here, run_main completes it.
    s->exiting.store(true, std::memory_order_seq_cst);
    s->main_done.store(true, std::memory_order_release);
    s->done.wakeup();
  } else if (s->exiting.load(std::memory_order_relaxed)) {
    s->done.wakeup();
  }
#endif
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

inline void stack_bounds_of_thread(void** lo, std::size_t* size) noexcept {
  pthread_attr_t attr;
  *lo = nullptr;
  *size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, lo, size);
    pthread_attr_destroy(&attr);
  }
}

// mstart is an M's thread: the g0 loop (Go: mstart / schedule on g0).
inline void mstart(m* mp) {
  set_tls_m(mp);
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

// ---------------------------------------------------------------------------
// Stack overflow (stack.hpp, "Overflow report").

// stack_overflow_message prints API.md's message for gp. Async-signal-safe.
inline void stack_overflow_message(g* gp) noexcept {
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

[[noreturn]] inline void stack_overflow_fatal(g* gp) noexcept {
  stack_overflow_message(gp);
  std::abort();
}

// overflow_check is the SIGSEGV hook: is addr in the running goroutine's guard?
inline bool overflow_check(void* addr) noexcept {
  m* mp = __atomic_load_n(&tls_m, __ATOMIC_RELAXED);  // a signal handler runs on the faulting thread: no switch in between
  if (mp == nullptr || mp->curg == nullptr) return false;
  g* gp = mp->curg;
  char* a = static_cast<char*>(addr);
  if (a >= gp->stack.lo || a < gp->stack.lo - stack_guard_size) return false;
  stack_overflow_message(gp);
  return true;
}

// ---------------------------------------------------------------------------
// sysmon (Go: sysmon in proc.go). One background thread per runtime, not an
// M (it never runs goroutines and holds no P). Every round (20 us, doubling
// after 50 idle rounds up to 10 ms) it:
//   - retakes Ps whose M has been inside blocking<handoff_lazy> for a whole
//     round, if there is work for them or 10 ms have passed (Go: retake);
//   - marks Ps whose G has run for over 10 ms without a schedule: that G
//     yields at its next safe point (safe_point above);
//   - polls the netpoller if nobody has for 10 ms.

inline constexpr std::int64_t sysmon_min_sleep_ns = 20'000;          // Go: 20 us
inline constexpr std::int64_t sysmon_max_sleep_ns = 10'000'000;      // Go: 10 ms
inline constexpr std::int64_t force_preempt_ns = 10'000'000;         // Go: forcePreemptNS
inline constexpr std::int64_t netpoll_stale_ns = 10'000'000;         // Go: sysmon polls after 10 ms
inline constexpr std::int64_t sysmon_deep_sleep_ns = 1'000'000;      // a sleep this long is cut short by sysmon_kick

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
inline std::atomic<bool>& sigquit_pending() noexcept {
  static std::atomic<bool> flag{false};
  return flag;
}
inline void install_sigquit_dump() {
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

// retake: one sysmon pass over the Ps; true if it took a P or marked a G.
struct sysmon_rec {
  std::uint32_t schedtick = 0;
  std::int64_t schedwhen = 0;
  std::uint32_t syscalltick = 0;
  std::int64_t syscallwhen = 0;
};

inline bool retake(sched_t* s, std::int64_t now, std::vector<sysmon_rec>& recs) {
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
        acted = true;
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

inline std::string goroutine_dump(sched_t* s);

// schedtrace prints Go's SCHED line ($GORO_DEBUG=schedtrace=MS).
inline void schedtrace(sched_t* s, std::int64_t now) {
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

inline void sysmon(sched_t* s) {
  std::vector<sysmon_rec> recs(s->allp.size());
  std::int64_t delay = sysmon_min_sleep_ns;
  std::int64_t last_trace = nanotime();
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
      injectglist(s, np->poll(0));
    }
    sysmon_run_timers(s, now);
    idle = (retake(s, now, recs) || kicked) ? 0 : idle + 1;  // kicked: short rounds until the P is retaken
    if (s->schedtrace_ns > 0 && delay > s->schedtrace_ns * 1000) delay = s->schedtrace_ns * 1000;
  }
}

inline void start_sysmon(sched_t* s) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(&s->sysmon_thread, &attr, [](void* a) -> void* { sysmon(static_cast<sched_t*>(a)); return nullptr; }, s);
  pthread_attr_destroy(&attr);
  if (rc != 0) fatal("start_sysmon: pthread_create failed");
}

// ---------------------------------------------------------------------------
// sched_t construction.

inline unsigned procs_from(const config& c) {
  if (c.procs != 0) return c.procs;
  if (const char* env = std::getenv("GORO_MAXPROCS")) {
    long v = std::strtol(env, nullptr, 10);
    if (v > 0 && v <= static_cast<long>(max_procs)) return static_cast<unsigned>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return std::clamp(hw, 1u, max_procs);
}

inline sched_t::sched_t(const config& c, bool dflt) : cfg(c), is_default(dflt), pool(&pool_for(c.stack_size)) {
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
  for (unsigned i = cfg.procs; i-- > 0;) pidleput_locked(this, allp[i]);
#if !GORO_DETERMINISTIC  // one thread runs everything: no sysmon, no dumps from signals
  std::string trace = debug_setting("schedtrace");
  if (!trace.empty()) schedtrace_ns = std::max(1L, std::atol(trace.c_str())) * 1'000'000;
  if (debug_setting("sigquit") == "1") install_sigquit_dump();
  start_sysmon(this);
#endif
}

inline sched_t::~sched_t() {
  delete np.load(std::memory_order_relaxed);
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

// default_sched: the process-wide runtime for plain threads outside run(),
// started on first use, never shut down (API.md: its goroutines are abandoned
// at exit).
inline sched_t* default_sched() {
#if GORO_DETERMINISTIC
  // API.md: in deterministic mode every goroutine runs on run()'s thread.
  throw std::logic_error("goro: deterministic mode runs goroutines only inside goro::run (called from a plain thread)");
#else
  static sched_t* s = new sched_t(config{}, true);
  return s;
#endif
}

// current_sched: the runtime of the calling goroutine, or the default one.
inline sched_t* current_sched() {
  m* mp = getm();
  return mp != nullptr ? mp->sched : default_sched();
}

// ---------------------------------------------------------------------------
// Shutdown: dumps, unwinding, stopping the Ms.

// dump_goroutine appends gp's entry of a goroutine dump, Go's format:
// "goroutine N [state]:\n\tcreated at file:line\n\n" ("state, main" for main).
// goroutine_dump and deterministic mode's reports share it.
inline void dump_goroutine(std::string& out, const g* gp, const std::string& state) {
  char buf[24];
  out += "goroutine ";
  out += fmt_u64(buf, gp->id);
  out += " [";
  out += state;
  if (gp->is_main) out += ", main";
  out += "]:\n\tcreated at ";
  out += gp->site.file;
  out += ":";
  out += fmt_u64(buf, gp->site.line);
  out += "\n\n";
}

// goroutine_dump lists the live goroutines of s, Go-style. Reads other Gs'
// fields racily when the world is not stopped: for diagnostics only.
inline std::string goroutine_dump(sched_t* s) {
  std::string out;
  std::int64_t now = nanotime();
  s->pool->space().for_each_slot([&](char* top) {
    g* gp = g_pool::g_at_top(top);
    if (gp->sched != s) return;
    gstatus st = gp->status.load(std::memory_order_acquire);
    if (st == gstatus::dead) return;
    std::string state;
    if (st == gstatus::waiting && gp->why != wait_reason::none) {
      state = wait_reason_name(gp->why);
      // How long blocked, at sysmon's resolution (Go prints minutes; seconds help more here).
      std::int64_t secs = gp->wait_since != 0 ? (now - gp->wait_since) / 1'000'000'000 : 0;
      if (secs >= 120) state += ", " + std::to_string(secs / 60) + " minutes";
      else if (secs >= 1) state += ", " + std::to_string(secs) + " s";
    } else {
      state = gstatus_name(st);
    }
    dump_goroutine(out, gp, state);
  });
  return out;
}

// unwind_all resumes every parked goroutine of s with goroutine_exit. See
// "Unwinding at shutdown" (and "Claiming a parked G" at park()).
inline void unwind_all(sched_t* s) {
  std::vector<g*> parked;
  s->pool->space().for_each_slot([&](char* top) {
    g* gp = g_pool::g_at_top(top);
    if (gp->sched == s && gp->status.load(std::memory_order_acquire) == gstatus::waiting &&
        gp->parkstate.load(std::memory_order_acquire) == park_cancellable)
      parked.push_back(gp);
  });
  for (g* gp : parked) try_cancel_park(gp, s);
}

// stop_ms ends every M of s and joins their threads. The caller (run) has
// seen every goroutine exit.
inline void stop_ms(sched_t* s) {
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
}

// run_main is run()'s body once the main goroutine is queued: wait for main
// (or a deadlock), unwind the rest, wait for them, stop the Ms, then report.
inline void run_main(sched_t* s) {
  for (;;) {
    s->done.sleep();
    s->done.clear();
    if (s->main_done.load(std::memory_order_acquire) || s->deadlocked.load(std::memory_order_acquire)) break;
  }
  std::string report;
  if (s->deadlocked.load(std::memory_order_acquire) && !s->main_done.load(std::memory_order_acquire))
    report = "all goroutines are asleep - deadlock!\n\n" + goroutine_dump(s);
  s->exiting.store(true, std::memory_order_seq_cst);
  heavy_fence();  // see "Unwinding at shutdown"
  unwind_all(s);
  std::int64_t dump_at = nanotime() + dump_after_ns;
  for (;;) {
    s->done.clear();
    heavy_fence();  // pairs with goexit's light_fence
    if (live_goroutines(s) == 0) break;
    std::int64_t left = dump_at - nanotime();
    if (left <= 0) {
      std::string d = "goro: main returned; still waiting for these goroutines to finish:\n\n" + goroutine_dump(s);
      write_err(d.c_str(), d.size());
      dump_at = nanotime() + dump_after_ns;
      continue;
    }
    s->done.sleep_for(left);
  }
  stop_ms(s);
  s->pool->scavenge(true);
  if (!report.empty()) throw deadlock_error(report);
}

inline void validate(const config& c) {
  if (c.procs > max_procs) throw std::invalid_argument("goro::config: procs is over 256");
  if (c.stack_size < min_stack_size) throw std::invalid_argument("goro::config: stack_size is under 16 KiB");
  if (c.max_threads == 0) throw std::invalid_argument("goro::config: max_threads is 0");
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Public API (API.md, "Runtime").

// run runs main_fn as the main goroutine of a new runtime and returns when it
// has returned and every other goroutine has been unwound. See API.md.
template <class F>
void run(F&& main_fn, config cfg = {}, detail::source_loc site = detail::source_loc::here()) {
  detail::validate(cfg);
  detail::m* mp = detail::getm();
  if (mp != nullptr) throw std::logic_error("goro::run: called from inside a goroutine");
#if GORO_DETERMINISTIC
  detail::det_run(std::forward<F>(main_fn), cfg, site, detail::det_input{});
  return;
#endif
  std::unique_ptr<detail::sched_t> s(new detail::sched_t(cfg, false));
  detail::newproc(s.get(), detail::closure<F>{std::forward<F>(main_fn), {}}, site, true);
  detail::run_main(s.get());
  std::exception_ptr e = s->main_exception;
  s.reset();
  if (e) std::rethrow_exception(e);
}

// go spawns a goroutine running std::invoke(f, args...) on decay-copies of f
// and args, invoked as rvalues (like std::thread). The overloads exist so that
// the creation site can be captured after the arguments (a default argument
// cannot follow a parameter pack).
template <class F>
void go(F&& f, detail::source_loc site = detail::source_loc::here()) {
  detail::newproc(detail::current_sched(), detail::closure<F>{std::forward<F>(f), {}}, site);
}
template <class F, class A1>
void go(F&& f, A1&& a1, detail::source_loc site = detail::source_loc::here()) {
  detail::newproc(detail::current_sched(), detail::closure<F, A1>{std::forward<F>(f), {std::forward<A1>(a1)}}, site);
}
template <class F, class A1, class A2>
void go(F&& f, A1&& a1, A2&& a2, detail::source_loc site = detail::source_loc::here()) {
  detail::newproc(detail::current_sched(),
                  detail::closure<F, A1, A2>{std::forward<F>(f), {std::forward<A1>(a1), std::forward<A2>(a2)}}, site);
}
template <class F, class A1, class A2, class A3>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, detail::source_loc site = detail::source_loc::here()) {
  detail::newproc(detail::current_sched(),
                  detail::closure<F, A1, A2, A3>{std::forward<F>(f), {std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3)}},
                  site);
}
template <class F, class A1, class A2, class A3, class A4>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, detail::source_loc site = detail::source_loc::here()) {
  detail::newproc(detail::current_sched(),
                  detail::closure<F, A1, A2, A3, A4>{
                      std::forward<F>(f), {std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4)}},
                  site);
}
template <class F, class A1, class A2, class A3, class A4, class A5, class... More>
void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, More&&... more) {
  // Six or more arguments: the creation site is this line's caller unknown; wrap
  // the extra arguments in a lambda call if the site matters.
  detail::newproc(detail::current_sched(),
                  detail::closure<F, A1, A2, A3, A4, A5, More...>{
                      std::forward<F>(f),
                      {std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5),
                       std::forward<More>(more)...}},
                  detail::source_loc::here());
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
#if GORO_DETERMINISTIC
  detail::det_point(true);
#else
  detail::rt_region rt;
  detail::unwind_point(gp);
  mp->pending = detail::pending_op{detail::pending_kind::yield, gp, nullptr, nullptr};
  detail::schedule(mp, gp);
#endif
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

// debug: scheduler introspection for demos, tests and tuning (an addition to API.md).
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
inline std::string dump() { return detail::goroutine_dump(detail::current_sched()); }

// stack_guard names the stack guard in use ("MADV_GUARD_INSTALL" or the fallback).
inline const char* stack_guard() { return detail::stack_guard_name(); }

}  // namespace debug

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

// The deterministic scheduler, and goro::sim in both modes.
#include "det.hpp"

#endif  // GORO_DETAIL_SCHED_HPP
