// goro/schedt.hpp — one runtime's shared state: sched_t (Go: schedt, allp
// and allm of runtime2.go), the global run queue, the netpoller interface the
// scheduler polls, and the public config and clock.
//
// A runtime is made by each goro::run (and one process-wide default runtime
// serves plain threads outside run). Its fields are guarded as each says:
// "lock" means sched_t::lock (Go: sched.lock); atomics name their writers.
// Above the park/ready seam (park.hpp) a sched_t* is an opaque handle: code
// there may store it and pass it back to the seam, never look inside.
#ifndef GORO_DETAIL_SCHEDT_HPP
#define GORO_DETAIL_SCHEDT_HPP

#include "config.hpp"
#include "gcache.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "timer_wake.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <pthread.h>
#include <string>
#include <sys/types.h>
#include <type_traits>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace sim {
enum class strategy { random, pct, dfs };
}

namespace detail {
// virtual_clock: goro::clock in deterministic mode: the virtual clock of the
// run on this thread (det.hpp), which only moves when no goroutine can run.
struct virtual_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<virtual_clock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point(duration(nanotime())); }
};
}  // namespace detail

// clock: goro's clock (docs/reference.md, "Time"): the steady clock in
// threaded mode, the virtual clock in deterministic mode.
using clock = std::conditional_t<detail::deterministic, detail::virtual_clock, std::chrono::steady_clock>;

// config: see docs/reference.md, "Runtime".
struct config {
  unsigned procs = 0;
  std::size_t stack_size = 256 * 1024;
  unsigned max_threads = 10000;
  std::uint64_t seed = 0;
  sim::strategy how = sim::strategy::random;
  unsigned pct_depth = 3;
  unsigned pct_steps = 100;
  std::uint64_t max_steps = 10'000'000;
  bool fail_on_leak = false;
};

namespace detail {

inline constexpr unsigned max_procs = 256;
inline constexpr std::size_t min_stack_size = 16 * 1024;

struct det_state;  // det.hpp
struct stall_reporter;  // stall.hpp

// validate rejects a config that run() cannot honour (std::invalid_argument).
inline void validate(const config& c) {
  if (c.procs > max_procs) throw std::invalid_argument("goro::config: procs is over 256");
  if (c.stack_size < min_stack_size) throw std::invalid_argument("goro::config: stack_size is under 16 KiB");
  if (c.max_threads == 0) throw std::invalid_argument("goro::config: max_threads is 0");
}


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
  std::atomic<std::int32_t> nmspinning{0};  // spinning Ms; see "Spinning Ms" (sched.hpp)
  bool stopping = false;         // lock: run() is shutting the Ms down

  // Goroutine ids: blocks of goid_batch handed to Ps; plain threads take one each.
  std::atomic<std::uint64_t> goid_gen{0};
  std::atomic<std::uint64_t> extra_created{0};  // goroutines spawned by plain threads (no P)

  // Timers: one heap per P (p::timers); see "Timers" in sched_timers.hpp.
  m* timer_m = nullptr;             // lock: the idle M sleeping until the earliest timer (or blocked in poll)
  // timer_m_until: what timer_m sleeps until (no_timer: an fd event), or
  // no_sleeper. Written under lock (seq_cst); read without it by adders: see
  // "Timer M wake-ups" (sched_timers.hpp).
  std::atomic<std::int64_t> timer_m_until{no_sleeper};
  bool timer_m_polls = false;       // lock: timer_m waits in netpoller::poll, not on its note

  // sysmon (sysmon.hpp).
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
  std::int64_t stall_ns = 0;                // immutable: $GORO_DEBUG=stalls=MS, 0 = off (stall.hpp)
  stall_reporter* stall_rep = nullptr;      // sysmon only: made at the first stall; ended by stop_ms after sysmon

  // Netpoller (netpoll.hpp). np is set once, under lock, and never changes.
  std::atomic<netpoller*> np{nullptr};
  std::atomic<std::int32_t> netpoll_waiters{0};  // goroutines parked on fds now

  // Run and shutdown state.
  note done;                        // run()'s caller sleeps here
  pid_t run_tid = 0;                // immutable: the thread blocked in run() (0 in the default runtime)
  std::atomic<bool> main_done{false};
  std::atomic<bool> deadlocked{false};
  // A deadlock held back by threads that could still wake a goroutine (see
  // checkdead in run.hpp). dead_held_since: nanotime() when the goroutines
  // last fell asleep with such threads around, 0 when not held back; written
  // under lock, read by sysmon as a hint.
  std::atomic<std::int64_t> dead_held_since{0};
  std::uint64_t dead_held_progress = 0;  // lock: switches into goroutines (p::scheduled) as of dead_held_since
  std::int64_t dead_last_scan = 0;       // lock: nanotime() of the last look at the process's threads
  std::int32_t dead_wakers = 0;          // lock: how many it found
  bool dead_held_dumped = false;         // lock: the 10 s report was printed
  std::atomic<bool> exiting{false}; // see "Unwinding at shutdown" (run.hpp)
  std::exception_ptr main_exception;  // written by the main goroutine before main_done
  // Threads that are not Ms of this runtime inside ready() (park.hpp) for one of
  // its goroutines: ~sched_t waits until none is.
  std::atomic<std::int32_t> foreign_readies{0};
  // Deterministic mode: the seeded scheduler's state, set by det_run before
  // any goroutine; nullptr in threaded mode (see det_hooks.hpp).
  det_state* det = nullptr;
  // The execution trace (trace.hpp) while it is on, else nullptr. Set before
  // the first goroutine, cleared by trace_finish after the last M stopped.
  trace_state* trace = nullptr;
};

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SCHEDT_HPP
