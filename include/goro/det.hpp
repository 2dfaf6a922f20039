// goro/det.hpp — deterministic mode (GORO_DETERMINISTIC=1; docs/reference.md,
// "Deterministic mode"; docs/design.md, "Deterministic mode"): a seeded
// single-threaded scheduler under the same channels, select, sync types and
// timers, with virtual time, failure reports that replay from a seed, a
// happens-before race detector for sim::shared, explore and run_with_choices.
//
// It is compiled in both modes (a threaded build type-checks it and never
// calls it); it defines the hooks that det_hooks.hpp declares.
//
// ---------------------------------------------------------------------------
// How it plugs into the threaded scheduler.
//
// run() builds an ordinary sched_t with one P and attaches a det_state. The
// thread that called run() is the only M: its g0 is det_loop, below. The
// threaded scheduler's run queue is replaced by det_state::runnable (runqput
// and ready call det_put), wakep does nothing, and schedule() finishes the
// departing G's park or yield in place (nothing runs concurrently) and asks
// det_next for the next G: if the seed picks the same G there is no switch.
// Parking, the pending ops, goexit, the timer heaps and the netpoller are the
// threaded ones.
//
// Scheduling points: safe_point (the channel operations, select, net I/O)
// and sched_point (the sync types, timers, sim::point) call det_point,
// which yields to det_next; a sim::shared access calls det_point itself.
// go's point comes after the child is queued (newproc), and wake_point ends
// every operation that may ready another goroutine: it is a point only if the
// running G readied one since the last decision (det_state::readied), so
// that the woken G may run before the waker's next statement (docs/design.md,
// "Deterministic mode", has the audit). Every det_next is one step: the step
// counter bounds a run (max_steps → livelock_error) and places PCT's priority
// change points.
//
// Determinism: a run's decisions depend only on (seed, strategy, pct_depth,
// pct_steps) or on the choice bytes: the PRNG is seeded per run, goroutine ids
// restart at 1, the virtual clock starts at the same instant, and the order of
// det_state::runnable is a function of the run's history. Addresses (stacks,
// channels) differ between runs but decide nothing: they only order lock
// acquisition (select) and index semaphore tables.
//
// Time: nanotime() (lock.hpp) reads det_state::now. It moves only in
// det_loop, when nothing is runnable: to the earliest timer (one step). With
// goroutines waiting on fds, det_loop first waits in the netpoller for real,
// up to the virtual time left until that timer, so loopback I/O still works.
//
// Failures: det_fail records the first one and sets sched.exiting; det_next
// then begins unwinding (as run_main does in threaded mode: every parked G
// whose wait can be cancelled throws goroutine_exit from its park; runnable Gs
// throw it from their next scheduling point) and run() throws the failure
// once every goroutine has ended. Main, if it is still alive (a deadlock, a
// panic elsewhere), is unwound last, once no other goroutine can run: the
// others may still use objects on its stack while they unwind (a wait_group's
// done() in a guard, a channel they are parked on). Until then a park main
// begins is not cancelled (det_main_waits), and a race found by main's own
// access only yields (det_shared_access). Goroutines that can never end (parked with no cancel, or
// blocked forever during unwinding) are abandoned: their stacks are not reused.
// fail_on_leak: main's exit defers the unwinding (det_exit sets leak_wait);
// the others run on, time advances past one-shot timers, and any G still
// parked once only tickers remain fails the run (det_leak_step).
//
// Race detector (sim::shared): vector clocks per goroutine (det_g::vc,
// indexed by goroutine id) and per sync object (det_state::sync_clocks),
// joined at race_release / race_acquire, which the sync operations call
// where Go's memory model has an edge (unlock -> lock, done -> wait, once,
// notify -> wait return, close -> a receive that sees it; at go a child starts
// with its parent's clock). A channel operation releases the channel on entry
// and acquires it on exit: the whole channel is one sync object, an edge
// stronger than Go's per-slot ones (it may hide a race Go's detector reports,
// never report one that is not there). The same calls annotate TSan in a TSan
// build (sanitizer.hpp, "Deterministic mode under TSan"). It costs nothing
// until the first access to a sim::shared in a run: at that point every live
// goroutine is treated as synchronized with every other (exact for the
// accesses from then on, which are all the detector checks).
#ifndef GORO_DETAIL_DET_HPP
#define GORO_DETAIL_DET_HPP

#include "config.hpp"
#include "det_hooks.hpp"
#include "park.hpp"
#include "sched.hpp"
#include "sched_timers.hpp"
#include "schedt.hpp"
#include "tls.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <sys/wait.h>
#include <poll.h>
#include <signal.h>
#include <thread>
#include <typeinfo>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::int64_t det_epoch_ns = 1'000'000'000;  // the virtual clock at the start of every run

// splitmix64: the run's PRNG (one 64-bit state, fast, seedable with any value).
inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// vclock: a vector clock indexed by goroutine id (0 unused).
using vclock = std::vector<std::uint32_t>;

inline std::uint32_t vc_get(const vclock& v, std::size_t i) noexcept { return i < v.size() ? v[i] : 0; }
inline void vc_join(vclock& into, const vclock& from) {
  if (into.size() < from.size()) into.resize(from.size(), 0);
  for (std::size_t i = 0; i < from.size(); ++i)
    if (from[i] > into[i]) into[i] = from[i];
}

// det_g: what the deterministic scheduler keeps per goroutine of the run,
// indexed by goroutine id (ids are dense: 1, 2, ... in every run).
struct det_g {
  g* gp = nullptr;          // nullptr once it has exited
  std::uint64_t prio = 0;   // pct: higher runs first
  vclock vc;                // race detector; empty until it is turned on
};

// det_runnable: the runnable set's storage, with the few vector operations
// the scheduler uses. det_spawn reserves room for every live G (reserve may
// throw; nothing else does), so push_back is a store and an increment that
// inlines into ready (std::vector's, with its out-of-line growth path, was
// not inlined and cost 4 % of explore's instructions).
class det_runnable {
 public:
  void reserve(std::size_t want) {
    if (want <= cap_) return;
    std::size_t cap = std::max(want, cap_ * 2);
    std::unique_ptr<g*[]> grown(new g*[cap]);
    std::copy(buf_.get(), buf_.get() + n_, grown.get());
    buf_ = std::move(grown);
    cap_ = cap;
  }
  void push_back(g* gp) noexcept {
    if (GORO_DETAIL_UNLIKELY(n_ == cap_)) fatal("goro: deterministic scheduler: a runnable goroutine without reserved room");
    buf_[n_++] = gp;
  }
  void pop_back() noexcept { --n_; }
  g*& operator[](std::size_t i) noexcept { return buf_[i]; }
  g*& back() noexcept { return buf_[n_ - 1]; }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }

 private:
  std::unique_ptr<g*[]> buf_;
  std::size_t n_ = 0;
  std::size_t cap_ = 0;
};

// ---------------------------------------------------------------------------
// Controlled runs (det_ctl): strategy::dfs and explore's shrinking.
//
// A decision among the runnable set C is a *preemption* when the goroutine
// chosen last (cur) is in C and another is chosen: it could have gone on.
// The *default* decision is cur if it is in C, else the lowest id in C. A
// controlled run takes the default everywhere except where its mode says:
//   observe: the seed (or PCT) decides, as in an ordinary run; only recorded.
//   plan:    at the decisions listed in plan (keyed by cur's id and how many
//            decisions cur has been current at: stable when other goroutines'
//            steps move), the goroutine listed, if it is in C.
//   dfs:     at the *branch points* (cur in C, |C| > 1, fewer than bound
//            preemptions so far), the option stack[k] says, k counting branch
//            points from the start: option 0 is cur, option j the j-th lowest
//            other id. explore backtracks the stack (iterative context bounding).
// Every controlled run records its deviations from the default (devs), its
// preemptions, and its decisions as run_with_choices bytes (the chosen index
// among the candidates, and each det_rand value), so that the schedule it ran
// replays exactly from bytes. det_rand in plan and dfs modes returns values
// below 240 (replayed from rands_in where given): a byte, and equal modulo
// every n dividing 240 to the value it replaces (select's shuffle takes it
// modulo its case count). One run's thread only.
struct det_ctl {
  enum class kind : std::uint8_t { observe, plan, dfs };
  struct deviation {
    std::uint64_t key;     // cur's id << 32 | its decision count (1-based)
    std::uint64_t target;  // the goroutine chosen
    bool preemption;       // cur was runnable
  };
  struct frame {
    std::uint32_t n;       // options at this branch point
    std::uint32_t chosen;  // option taken
  };
  kind how = kind::plan;
  unsigned bound = 0;                                    // dfs: preemptions allowed
  std::vector<frame> stack;                              // dfs: the path, one frame per branch point
  std::unordered_map<std::uint64_t, std::uint64_t> plan; // plan: key -> target id
  std::vector<std::uint8_t> rands_in;                    // det_rand values to replay (plan, dfs)

  // --- recorded by the run (reset by begin()) ---
  std::size_t frame_pos = 0;
  std::size_t rand_pos = 0;
  std::uint64_t cur = 0;                  // id of the goroutine chosen last (0: none yet)
  std::vector<std::uint32_t> counts;      // by goroutine id: decisions taken with it as cur
  std::vector<deviation> devs;
  std::vector<std::uint8_t> bytes;        // the run as run_with_choices bytes
  bool bytes_ok = true;                   // false: an index over 255 (not expressible as bytes)
  std::vector<std::uint8_t> rands;        // det_rand values (below 240)
  unsigned preemptions = 0;
  std::uint64_t steps = 0;

  void begin() {
    frame_pos = rand_pos = 0;
    cur = 0;
    counts.clear();
    devs.clear();
    bytes.clear();
    bytes_ok = true;
    rands.clear();
    preemptions = 0;
    steps = 0;
  }
};

struct det_state {
  // --- the run's parameters; immutable ---
  std::uint64_t seed = 1;
  sim::strategy how = sim::strategy::random;
  unsigned pct_depth = 3;
  unsigned pct_steps = 100;
  std::uint64_t max_steps = 10'000'000;
  bool fail_on_leak = false;
  det_input in;
  det_ctl* ctl = nullptr;         // a controlled run (in.ctl, or a single run of strategy::dfs)
  sim::strategy pick_how = sim::strategy::random;  // how, but pct in a controlled run (det_pick)

  // --- scheduling; the run's thread only (like everything here) ---
  std::uint64_t rng = 0;
  std::size_t choice_pos = 0;     // next byte of in.choices
  det_runnable runnable;          // the runnable set; det_next removes by swapping with the last
  std::vector<det_g> gs;          // by goroutine id
  std::size_t live = 0;           // goroutines not yet exited
  std::uint64_t steps = 0;
  std::int64_t now = det_epoch_ns;
  std::uint64_t trace = 0xcbf29ce484222325ull;  // FNV-1a over the ids chosen: equal runs, equal traces
  std::vector<std::uint64_t> pct_change_at;     // pct: the steps where the running G's priority drops
  std::size_t pct_changes_done = 0;
  g* current = nullptr;           // the G chosen last (the one whose step it is)
  g* report_g = nullptr;          // report mode (below): the parked G resumed to capture its stack,
  g* report_to = nullptr;         //   and the context it switches back to
  bool readied = false;           // a G was readied on this thread since the last decision (det_wake_point)

  // --- readies from other threads (det_ready) ---
  rt_mutex foreign_mu;
  std::vector<g*> foreign;                 // guarded by foreign_mu
  std::atomic<bool> has_foreign{false};    // written under foreign_mu; release pairs with det_take_foreign's acquire

  // --- failure and shutdown ---
  std::exception_ptr failure;     // the first failure of the run
  bool unwinding = false;         // det_begin_unwind ran
  bool main_turn = false;         // unwinding, and main's turn to be unwound has come (see the top)
  g* main_g = nullptr;            // the main goroutine while it lives
  bool leak_wait = false;         // fail_on_leak: main returned; the rest run until quiescent (det_leak_step)

  // --- race detector ---
  bool race_on = false;
  std::uint64_t run_id = 0;       // tells a sim::shared that outlived its run to start afresh
  std::unordered_map<const void*, vclock> sync_clocks;

  std::vector<std::uint8_t> env_choices;  // $GORO_CHOICES decoded (in.choices points here)

  std::uint64_t next_rand() noexcept { return splitmix64(rng); }

  // choose: a uniform choice in [0, n) from the seed, or the next choice byte.
  std::size_t choose(std::size_t n) noexcept {
    if (in.by_choices) return choice_pos < in.nchoices ? in.choices[choice_pos++] % n : 0;
    return static_cast<std::size_t>((static_cast<unsigned __int128>(next_rand()) * n) >> 64);
  }
};

// det_current_run: the deterministic run on this thread, or nullptr.
inline sched_t* det_current_run() noexcept {
  m* mp = getm();
  return mp != nullptr ? mp->sched : nullptr;
}

inline void det_put(sched_t* s, g* gp) noexcept {
  s->det->runnable.push_back(gp);  // capacity reserved for every live G by det_spawn: no throw
}

inline void det_ready(sched_t* s, g* gp) {
  m* mp = getm();
  if (mp != nullptr && mp->sched == s) {
    det_put(s, gp);
    s->det->readied = true;
    return;
  }
  det_state& d = *s->det;
  rt_lock_guard lk(d.foreign_mu);
  d.foreign.push_back(gp);
  d.has_foreign.store(true, std::memory_order_release);
}

// det_take_foreign moves the Gs other threads readied into the runnable set.
// The run's thread.
inline void det_take_foreign(det_state& d) {
  if (GORO_DETAIL_LIKELY(!d.has_foreign.load(std::memory_order_acquire))) return;
  rt_lock_guard lk(d.foreign_mu);
  for (g* gp : d.foreign) d.runnable.push_back(gp);  // each is a live G: det_spawn reserved its room
  d.foreign.clear();
  d.has_foreign.store(false, std::memory_order_relaxed);
}

// det_step counts a scheduling step and places PCT's change points.
inline void det_step(sched_t* s) {
  det_state& d = *s->det;
  ++d.steps;
  if (GORO_DETAIL_UNLIKELY(d.steps > d.max_steps) && !d.failure) {
    det_fail(s, std::make_exception_ptr(livelock_error(
                    "livelock: the run took more than max_steps = " + std::to_string(d.max_steps) + " scheduling steps\n\n" + det_dump(s))));
  }
  if (d.how == sim::strategy::pct && d.pct_changes_done < d.pct_change_at.size() &&
      d.pct_change_at[d.pct_changes_done] == d.steps && d.current != nullptr) {
    ++d.pct_changes_done;
    // The i-th change point gives the running G priority depth - i: below
    // every initial priority (all >= depth) and below earlier changes.
    d.gs[d.current->id].prio = d.pct_depth - d.pct_changes_done;
  }
}

GORO_DETAIL_COMPILED void det_begin_unwind(sched_t* s);
GORO_DETAIL_COMPILED void det_unwind_main(sched_t* s);

// det_pick_ctl: det_pick in a controlled run (see "Controlled runs" above).
GORO_DETAIL_NOINLINE inline std::size_t det_pick_ctl(det_state& d, g* const* list, std::size_t n, g* last) {
  auto at = [&](std::size_t k) { return last != nullptr && k + 1 == n ? last : list[k]; };
  det_ctl& c = *d.ctl;
  std::uint64_t cur = c.cur;
  if (c.counts.size() <= cur) c.counts.resize(cur + 1, 0);
  std::uint64_t key = cur << 32 | ++c.counts[cur];
  std::size_t ci = n, lo = 0;  // cur's index (n: not runnable), the lowest id's
  for (std::size_t k = 0; k < n; ++k) {
    std::uint64_t id = at(k)->id;
    if (id == cur) ci = k;
    if (id < at(lo)->id) lo = k;
  }
  bool cur_in = ci < n;
  std::size_t dflt = cur_in ? ci : lo;
  std::size_t i = dflt;
  // index_of_rank: the index of the j-th lowest id other than cur (j >= 1).
  auto index_of_rank = [&](std::size_t j) {
    std::uint64_t prev = 0;
    std::size_t at_k = dflt;
    for (std::size_t r = 0; r < j; ++r) {
      std::uint64_t best = ~0ull;
      for (std::size_t k = 0; k < n; ++k) {
        std::uint64_t id = at(k)->id;
        if (id != cur && id > prev && id < best) {
          best = id;
          at_k = k;
        }
      }
      prev = best;
    }
    return at_k;
  };
  switch (c.how) {
    case det_ctl::kind::observe:
      if (d.how == sim::strategy::pct && !d.in.by_choices) {
        i = 0;
        for (std::size_t k = 1; k < n; ++k)
          if (d.gs[at(k)->id].prio > d.gs[at(i)->id].prio) i = k;
      } else {
        i = n > 1 ? d.choose(n) : 0;
      }
      break;
    case det_ctl::kind::plan:
      if (!c.plan.empty()) {
        auto it = c.plan.find(key);
        if (it != c.plan.end())
          for (std::size_t k = 0; k < n; ++k)
            if (at(k)->id == it->second) i = k;
      }
      break;
    case det_ctl::kind::dfs:
      if (cur_in && n > 1 && c.preemptions < c.bound) {
        if (c.frame_pos == c.stack.size()) c.stack.push_back(det_ctl::frame{static_cast<std::uint32_t>(n), 0});
        det_ctl::frame& f = c.stack[c.frame_pos++];
        if (f.n != n) {  // the same prefix gave another runnable set: only a run that waits on fds does
          f.n = static_cast<std::uint32_t>(n);
          if (f.chosen >= n) f.chosen = static_cast<std::uint32_t>(n - 1);
        }
        if (f.chosen > 0) i = index_of_rank(f.chosen);
      }
      break;
  }
  // Record the decision.
  std::uint64_t chosen = at(i)->id;
  if (n > 1) {
    if (i > 255) c.bytes_ok = false;
    c.bytes.push_back(static_cast<std::uint8_t>(i));
  }
  if (i != dflt) {
    c.devs.push_back(det_ctl::deviation{key, chosen, cur_in});
    if (cur_in) ++c.preemptions;
  }
  c.cur = chosen;
  return i;
}

// det_pick: the decision among n candidates, at(k) being the k-th: PCT's
// highest priority (the first on a tie), else the seed's or the choice
// bytes' pick. det_chose records the decision. det_next and det_point_fast.
// list: the runnable set; last: nullptr, or the running G as a virtual last
// entry (det_point_fast). A controlled run takes the pct branch (pick_how,
// so that the seeded path pays nothing for it) and leaves there for
// det_pick_ctl, which gets list and last as plain arguments (a closure
// passed out of line made det_point_fast spill).
template <bool Ctl = true, class At>
std::size_t det_pick(det_state& d, std::size_t n, At at, g* const* list, g* last) {
  std::size_t i = 0;
  if (d.pick_how == sim::strategy::pct && !d.in.by_choices) {
    if (Ctl && GORO_DETAIL_UNLIKELY(d.ctl != nullptr)) return det_pick_ctl(d, list, n, last);
    for (std::size_t k = 1; k < n; ++k)
      if (d.gs[at(k)->id].prio > d.gs[at(i)->id].prio) i = k;
  } else if (n > 1) {
    i = d.choose(n);
  }
  return i;
}
inline void det_chose(det_state& d, g* gp) noexcept {
  d.trace = (d.trace ^ gp->id) * 0x100000001b3ull;
  d.current = gp;
  d.readied = false;
}

// det_next makes one scheduling decision: the G to run next, or nullptr when
// none is runnable. On the run's thread.
inline g* det_next(sched_t* s) {
  det_state& d = *s->det;
  det_take_foreign(d);
  if (GORO_DETAIL_UNLIKELY(s->exiting.load(std::memory_order_relaxed)) && !d.unwinding) det_begin_unwind(s);
  if (GORO_DETAIL_UNLIKELY(s->netpoll_waiters.load(std::memory_order_relaxed) > 0)) {
    // Goroutines wait on fds: a non-blocking poll at every scheduling point.
    if (netpoller* np = s->np.load(std::memory_order_relaxed)) injectglist(s, netpoll_ready(s, np, 0));
  }
  if (GORO_DETAIL_UNLIKELY(d.unwinding) && !d.main_turn && (d.runnable.empty() || (d.runnable.size() == 1 && d.runnable[0] == d.main_g)))
    det_unwind_main(s);
  std::size_t n = d.runnable.size();
  if (n == 0) return nullptr;
  det_step(s);
  std::size_t i = det_pick(d, n, [&](std::size_t k) { return d.runnable[k]; }, &d.runnable[0], nullptr);
  g* gp = d.runnable[i];
  d.runnable[i] = d.runnable.back();
  d.runnable.pop_back();
  det_chose(d, gp);
  return gp;
}

// det_point_fast: det_point's common case, the same decision without the
// round trip through the runnable set. A yield would put gp at the back of
// det_state::runnable (run_pending) and det_next would pick index i of n and
// move the back into slot i; with nothing else to do first (no foreign
// readies, no unwinding, no fd waiters, no due timer, no trace, not a controlled run) that is: pick
// i of runnable + 1 as if gp were last; gp goes on (no switch) or takes the
// chosen G's slot and switches to it. Returns false when the slow path must
// run. Equal decisions, steps and traces to the slow path.
inline bool det_point_fast(m* mp, g* gp) {
  sched_t* s = mp->sched;
  det_state& d = *s->det;
  if (GORO_DETAIL_UNLIKELY(d.has_foreign.load(std::memory_order_relaxed) || s->exiting.load(std::memory_order_relaxed) ||
                           d.unwinding || d.leak_wait || s->netpoll_waiters.load(std::memory_order_relaxed) > 0 ||
                           s->trace != nullptr || mp->pp->timers.next.load(std::memory_order_relaxed) <= d.now || d.ctl != nullptr))
    return false;
  std::size_t n = d.runnable.size() + 1;  // gp is the virtual last entry
  det_step(s);
  std::size_t i = det_pick<false>(d, n, [&](std::size_t k) { return k + 1 == n ? gp : d.runnable[k]; }, nullptr, nullptr);
  g* next = i + 1 == n ? gp : d.runnable[i];
  det_chose(d, next);
  if (next == gp) return true;
  d.runnable[i] = gp;
  gp->status.store(gstatus::runnable, std::memory_order_relaxed);
  start_g(mp, gp, next);
  return true;
}

// det_point: a scheduling point of the running goroutine. may_unwind: throw
// goroutine_exit if the run is unwinding (not from operations that may run in
// destructors).
inline void det_point(bool may_unwind) {
  rt_region rt;
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) return;
  g* gp = mp->curg;
  if (gp->in_blocking != 0) return;
  det_state& d = *mp->sched->det;
  // Main is unwound only once its turn has come (see the top of the file),
  // which may happen while it is switched out here; a point that must not
  // throw (may_unwind = false) never does, main's included.
  if (may_unwind && (!gp->is_main || d.main_turn)) unwind_point(gp);
  if (!det_point_fast(mp, gp)) {
    mp->pending = pending_op{pending_kind::yield, gp, nullptr, nullptr};
    schedule(mp, gp);
  }
  if (may_unwind && (!gp->is_main || d.main_turn)) unwind_point(gp);
}

// det_wake_point: wake_point's body (park.hpp): a scheduling point if the
// running goroutine readied another since the last decision. Readies made
// while no goroutine ran (timers and fds in det_loop, the unwinding in
// det_next) are cleared by that decision; a timer check on the arriving side
// of a switch may leave the flag set, costing one extra point, never a missed one.
inline void det_wake_point() {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr || mp->sched == nullptr || mp->sched->det == nullptr) return;
  if (GORO_DETAIL_LIKELY(!mp->sched->det->readied)) return;
  det_point(false);
}

inline void det_spawn(sched_t* s, g* gp) {
  det_state& d = *s->det;
  if (d.gs.size() <= gp->id) d.gs.resize(gp->id + 1);
  det_g& rec = d.gs[gp->id];
  rec.gp = gp;
  if (gp->is_main) d.main_g = gp;
  rec.prio = d.pct_depth + (d.next_rand() >> 8);  // pct: random initial priorities, all >= depth
  ++d.live;
  d.runnable.reserve(d.live);  // det_put never allocates
  if (d.race_on) {
    // go: the child starts with everything its parent has seen (Go: the go
    // statement happens before the goroutine's execution begins).
    m* mp = getm();
    g* parent = mp != nullptr ? mp->curg : nullptr;
    rec.vc.clear();
    if (parent != nullptr) {
      vclock& pv = d.gs[parent->id].vc;
      rec.vc = pv;
      if (pv.size() <= parent->id) pv.resize(parent->id + 1, 0);
      ++pv[parent->id];
    }
    if (rec.vc.size() <= gp->id) rec.vc.resize(gp->id + 1, 0);
    rec.vc[gp->id] = 1;
  }
}

inline void det_exit(sched_t* s, g* gp) noexcept {
  det_state& d = *s->det;
  d.gs[gp->id].gp = nullptr;
  --d.live;
  if (gp != d.main_g) return;
  d.main_g = nullptr;
  // Main returned: unwind the rest (det_next begins it), or with fail_on_leak
  // let them run to quiescence first (det_leak_step). Not when the run failed
  // already or main threw: that is what run() reports.
  if (d.fail_on_leak && !d.failure && !s->main_exception) d.leak_wait = true;
  else s->exiting.store(true, std::memory_order_relaxed);
}

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void det_fail(sched_t* s, std::exception_ptr e) noexcept {
  det_state& d = *s->det;
  if (!d.failure) {
    d.failure = std::move(e);
    if (s->trace != nullptr) trace_stop(s);  // the timeline ends at the failure
  }
  s->exiting.store(true, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Report mode: where each parked goroutine waits.
//
// A parked goroutine's stack can be walked only from that stack
// (_Unwind_Backtrace walks the current one), and capturing at every park
// would cost an unwind (microseconds) per park: explore's runs park
// thousands of times per failure found. So a report resumes each parked
// goroutine briefly: det_capture records gp and the reporting context in
// det_state (report_g, report_to) and switches to gp; gp returns from the
// switch inside its park(), sees that it is report_g (det_reporting), captures its own stack into its park frame (gp->park_tb) and
// switches straight back (det_report_return), without leaving park. Nothing
// else runs meanwhile (one thread), so nothing can observe it: the
// reporter's pending op and P are set aside for the round trip (gp's side of
// gogo then runs no pending op and no timers), errno is kept, and the
// exception state is untouched (gogo swaps it on the departing side only).

GORO_DETAIL_COMPILED void det_capture(g* gp) {
  m* mp = getm();
  g* self = mp->curg != nullptr ? mp->curg : &mp->g0;
  pending_op saved = mp->pending;
  p* pp = mp->pp;
  int e = *errno_ptr();
  mp->pending = pending_op{};
  mp->pp = nullptr;
  gp->park_tb.store(nullptr, std::memory_order_relaxed);
  det_state& d = *mp->sched->det;
  d.report_g = gp;
  d.report_to = self;
  san_before_switch(self->san, gp->san, false);
  goro_detail_ctx_swap(&self->sp, gp->sp);
  san_after_switch(self->san, false);
  mp->pending = saved;
  mp->pp = pp;
  *errno_ptr() = e;
}
#endif  // GORO_DETAIL_DEFINE_COMPILED

inline bool det_lock_sites() noexcept {
  m* mp = getm();
  return mp != nullptr && mp->sched->det != nullptr && mp->sched->det->in.lock_sites;
}

inline bool det_reporting(g* gp) noexcept {
  m* mp = getm();
  return mp != nullptr && mp->sched->det != nullptr && mp->sched->det->report_g == gp;
}

inline void det_report_return(g* gp) noexcept {
  det_state& d = *getm()->sched->det;
  g* to = d.report_to;
  d.report_g = nullptr;
  d.report_to = nullptr;
  san_before_switch(gp->san, to->san, false);
  goro_detail_ctx_swap(&gp->sp, to->sp);
  san_after_switch(gp->san, false);
}

// parked_traceback (runtime2.hpp): threaded mode, the stack park captured
// (tracebacks on); deterministic mode, a fresh capture in report mode (on
// the run's thread; the goroutine whose stack we are on captures in place).
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED const traceback* parked_traceback(g* gp, traceback& scratch) {
  if (gp->status.load(std::memory_order_acquire) != gstatus::waiting) return nullptr;
  if constexpr (deterministic) {
    m* mp = getm();
    if (mp == nullptr || gp->sched == nullptr || mp->sched != gp->sched || gp->sched->det == nullptr || gp->is_thread) return nullptr;
    if (gp == mp->curg) {  // parking right now (a report from inside its schedule): on its own stack
      capture_traceback(scratch);
      return &scratch;
    }
    det_capture(gp);
  } else if (!tracebacks_on.load(std::memory_order_relaxed)) {
    return nullptr;
  }
  const traceback* tb = gp->park_tb.load(std::memory_order_relaxed);
  if (tb == nullptr) return nullptr;
  scratch = *tb;  // on gp's stack: read while gp is parked (racy only in a dump of a running world)
  return &scratch;
}

// det_dump lists the live goroutines of the run (id, state, wait reason,
// where each waits, creation site), as the failure reports and the
// partial-deadlock note do. cycle: put the mutex wait cycle, if any, first.
GORO_DETAIL_COMPILED std::string det_dump(sched_t* s, bool cycle) {
  rt_region rt;  // it reads other goroutines' channels and locks: runtime memory, hidden from TSan
  dump_ctx ctx;
  for (const det_g& rec : s->det->gs)
    if (rec.gp != nullptr) ctx.gs.push_back(rec.gp);
  std::string out;
  if (cycle) {
    out = wait_cycle(ctx);
    if (!out.empty()) out += '\n';
  }
  for (const g* cgp : ctx.gs) {
    g* gp = const_cast<g*>(cgp);
    gstatus st = gp->status.load(std::memory_order_relaxed);
    wait_reason why = gp->why.load(std::memory_order_relaxed);
    dump_goroutine(out, gp, (st == gstatus::waiting && why != wait_reason::none) ? wait_reason_name(why) : gstatus_name(st), &ctx);
  }
  if (symbolize_degraded()) out += degraded_note();
  return out;
}

// det_cancel_park: if gp is parked with a cancellable wait, cancel it and make
// gp runnable: it throws goroutine_exit from its park.
GORO_DETAIL_COMPILED void det_cancel_park(g* gp) {
  if (gp->status.load(std::memory_order_relaxed) != gstatus::waiting || gp->cancel == nullptr || !unwind_cancellable(gp))
    return;
  if (gp->cancel(gp, gp->cancel_arg)) {
    gp->unwind.store(unwind_cancelled, std::memory_order_relaxed);
    ready(gp);
  }
}

// det_begin_unwind: main returned or the run failed. Every parked goroutine
// whose wait can be cancelled throws goroutine_exit from its park; the others
// do at their next scheduling point (see "Unwinding at shutdown", run.hpp).
GORO_DETAIL_COMPILED void det_begin_unwind(sched_t* s) {
  det_state& d = *s->det;
  d.unwinding = true;
  d.leak_wait = false;  // a failure while waiting for quiescence: no leak check
  if (!d.failure && !d.in.quiet && d.runnable.empty() && timers_earliest(s) == no_timer &&
      s->netpoll_waiters.load(std::memory_order_relaxed) == 0) {
    // Main returned while the rest are blocked for good: a partial deadlock
    // (a goroutine leak in Go). Not a failure, but worth a note.
    bool blocked = false;
    for (const det_g& rec : d.gs)
      if (rec.gp != nullptr && rec.gp->status.load(std::memory_order_relaxed) == gstatus::waiting) blocked = true;
    if (blocked) {
      std::string note = "goro: main returned while these goroutines were blocked forever (seed " + std::to_string(d.seed) +
                         "):\n\n" + det_dump(s);
      write_err(note.c_str(), note.size());
    }
  }
  for (const det_g& rec : d.gs)
    if (rec.gp != nullptr && rec.gp != d.main_g) det_cancel_park(rec.gp);
}

GORO_DETAIL_COMPILED bool det_main_waits(const g* gp) noexcept {
  if constexpr (!deterministic) return false;
  sched_t* s = gp->sched;
  return gp->is_main && s != nullptr && s->det != nullptr && !s->det->main_turn;
}

// det_unwind_main: main's turn (see the top of the file): cancel its park, or
// let its next scheduling point throw goroutine_exit.
GORO_DETAIL_COMPILED void det_unwind_main(sched_t* s) {
  det_state& d = *s->det;
  d.main_turn = true;
  if (d.main_g != nullptr) det_cancel_park(d.main_g);
}

// det_fatal: Go's fatal errors (unlock of an unlocked mutex) fail the run as a
// panic_error instead of ending the process, so that explore survives them.
// The goroutine cannot go on (its caller is noexcept) and is abandoned.
[[noreturn]] GORO_DETAIL_COMPILED void det_fatal(const char* msg) noexcept {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) fatal(msg);
  g* gp = mp->curg;
  sched_t* s = mp->sched;
  try {
    std::string text = std::string("fatal error: ") + msg + "\n\ngoroutine " + std::to_string(gp->id) + " [running], created at ";
    append_site(text, gp->site);
    det_fail(s, std::make_exception_ptr(panic_error(text + "\n\n" + det_dump(s))));
  } catch (...) {
    fatal(msg);  // out of memory building the message
  }
  // Abandon gp: it is counted as exited, and its stack is never reused. Its
  // end happens before run() returns, as a goroutine's that returns (g_entry).
  san_edge(s, true);
  p* pp = mp->pp;
  pp->exited.store(pp->exited.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  det_exit(s, gp);
  gp->status.store(gstatus::waiting, std::memory_order_relaxed);
  gp->sched = nullptr;
  mp->pending = pending_op{};
  schedule(mp, gp, true);
  fatal("det_fatal: an abandoned goroutine was resumed");
}
#endif  // GORO_DETAIL_DEFINE_COMPILED

inline std::uint32_t det_rand() noexcept {
  m* mp = getm();
  if (mp == nullptr || mp->sched->det == nullptr) return 0;
  det_state& d = *mp->sched->det;
  if (GORO_DETAIL_UNLIKELY(d.ctl != nullptr)) {  // see "Controlled runs"
    det_ctl& c = *d.ctl;
    std::uint32_t r;
    if (c.how == det_ctl::kind::observe) {
      r = d.in.by_choices ? static_cast<std::uint32_t>(d.choose(256)) : static_cast<std::uint32_t>(d.next_rand() >> 32);
      c.rands.push_back(static_cast<std::uint8_t>(r % 240));
      c.bytes.push_back(static_cast<std::uint8_t>(r % 240));
      return r;
    }
    std::size_t j = c.rand_pos++;
    r = j < c.rands_in.size() ? c.rands_in[j] % 240 : static_cast<std::uint32_t>((d.next_rand() >> 32) % 240);
    c.rands.push_back(static_cast<std::uint8_t>(r));
    c.bytes.push_back(static_cast<std::uint8_t>(r));
    return r;
  }
  if (d.in.by_choices) return static_cast<std::uint32_t>(d.choose(256));
  return static_cast<std::uint32_t>(d.next_rand() >> 32);
}

// The race detector's clocks (see the top of this file).
inline det_g* det_race_current() noexcept {
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr || mp->sched->det == nullptr || !mp->sched->det->race_on) return nullptr;
  return &mp->sched->det->gs[mp->curg->id];
}

inline void det_race_release(const void* obj) noexcept {
  det_g* cur = det_race_current();
  if (cur == nullptr || obj == nullptr) return;
  g* gp = cur->gp;
  try {
    vc_join(getm()->sched->det->sync_clocks[obj], cur->vc);
  } catch (...) {
    fatal("goro: out of memory in the race detector");
  }
  ++cur->vc[gp->id];
}

inline void det_race_acquire(const void* obj) noexcept {
  det_g* cur = det_race_current();
  if (cur == nullptr || obj == nullptr) return;
  det_state& d = *getm()->sched->det;
  auto it = d.sync_clocks.find(obj);
  if (it == d.sync_clocks.end()) return;
  try {
    vc_join(cur->vc, it->second);
  } catch (...) {
    fatal("goro: out of memory in the race detector");
  }
}

// det_hex / det_parse_hex: choice bytes as GORO_CHOICES spells them (two
// lower-case hex digits a byte).
inline std::string det_hex(const std::vector<std::uint8_t>& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}
inline bool det_parse_hex(std::string_view text, std::vector<std::uint8_t>& out) {
  auto nibble = [](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  if (text.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return true;
}

GORO_DETAIL_COMPILED const char* strategy_name(sim::strategy s) noexcept;

// det_origin: what decided the run's schedule, for reports: its seed and
// strategy, or choice bytes (run_with_choices, $GORO_CHOICES, a planned or dfs
// run: the bytes explore reports replay it, so both must say the same).
inline std::string det_origin(const det_state& d) {
  if (d.in.by_choices || (d.ctl != nullptr && d.ctl->how != det_ctl::kind::observe)) return "schedule from choice bytes";
  return "seed " + std::to_string(d.seed) + ", strategy " + strategy_name(d.how);
}

// det_race_enable turns the detector on at the first sim::shared access of a run:
// every live goroutine starts as synchronized with every other, each at a new
// epoch of its own.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void det_race_enable(det_state& d) {
  if (d.race_on) return;
  d.race_on = true;
  for (std::size_t id = 1; id < d.gs.size(); ++id) {
    if (d.gs[id].gp == nullptr) continue;
    d.gs[id].vc.assign(d.gs.size(), 1);
    d.gs[id].vc[0] = 0;
    d.gs[id].vc[id] = 2;
  }
}


// det_params: the run's parameters: the config, overridden by the environment
// when config::seed is 0 (docs/reference.md, "Deterministic mode").
GORO_DETAIL_COMPILED void det_params(det_state& d, const config& c) {
  d.seed = c.seed;
  d.how = c.how;
  d.pct_depth = c.pct_depth;
  d.pct_steps = c.pct_steps;
  d.max_steps = c.max_steps;
  d.fail_on_leak = c.fail_on_leak;
  if (d.seed != 0) return;
  if (const char* v = std::getenv("GORO_STRATEGY")) {
    std::string sv = v;
    if (sv == "random") d.how = sim::strategy::random;
    else if (sv == "pct") d.how = sim::strategy::pct;
    else if (sv == "dfs") d.how = sim::strategy::dfs;
    else throw std::invalid_argument("goro: GORO_STRATEGY must be random, pct or dfs, not '" + sv + "'");
  }
  if (const char* v = std::getenv("GORO_CHOICES"); v != nullptr && !d.in.by_choices && d.in.ctl == nullptr) {
    // The schedule as run_with_choices bytes, in hex (explore's reproduce line).
    if (!det_parse_hex(v, d.env_choices))
      throw std::invalid_argument(std::string("goro: GORO_CHOICES is not an even number of hex digits: '") + v + "'");
    d.in.choices = d.env_choices.data();
    d.in.nchoices = d.env_choices.size();
    d.in.by_choices = true;
    d.seed = 1;
    return;
  }
  auto number = [](const char* name, std::uint64_t& out) {
    const char* v = std::getenv(name);
    if (v == nullptr) return false;
    char* end = nullptr;
    unsigned long long x = std::strtoull(v, &end, 10);
    if (end == v || *end != '\0') throw std::invalid_argument(std::string("goro: ") + name + " is not a number: '" + v + "'");
    out = x;
    return true;
  };
  std::uint64_t x;
  if (number("GORO_PCT_DEPTH", x)) d.pct_depth = static_cast<unsigned>(x);
  if (number("GORO_PCT_STEPS", x)) d.pct_steps = static_cast<unsigned>(x);
  if (!number("GORO_SEED", d.seed) || d.seed == 0) {
    std::random_device rd;
    do d.seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(mono_ns());
    while (d.seed == 0);
  }
}

GORO_DETAIL_COMPILED const char* strategy_name(sim::strategy s) noexcept {
  return s == sim::strategy::pct ? "pct" : s == sim::strategy::dfs ? "dfs" : "random";
}

GORO_DETAIL_COMPILED std::uint64_t& det_run_counter() noexcept {
  static thread_local std::uint64_t n = 0;
  return n;
}

// det_thread_setup prepares the calling thread to be a run's M, once per
// thread (explore makes thousands of runs; pthread_getattr_np reads
// /proc/self/maps on the main thread): a signal stack for the stack-overflow
// handler, and g0's sanitizer state.
GORO_DETAIL_COMPILED void det_thread_setup(g& g0) {
  static thread_local alt_stack sigstack;
  static thread_local std::pair<void*, std::size_t> bounds{nullptr, 0};
  if (bounds.first == nullptr) stack_bounds_of_thread(&bounds.first, &bounds.second);
  san_det_process_setup();
  san_thread_fiber(g0.san, bounds.first, bounds.second);
}

// det_trace_blocked: a deadlock or a leak: the trace marks every goroutine
// still blocked, after the last step (where the slices end).
GORO_DETAIL_COMPILED void det_trace_blocked(sched_t* s) {
  if (!tracing(s)) return;
  det_state& d = *s->det;
  for (const det_g& rec : d.gs)
    if (rec.gp != nullptr && rec.gp->status.load(std::memory_order_relaxed) == gstatus::waiting)
      trace_mark(s, trace_kind::deadlock, rec.gp->id, static_cast<std::int64_t>(d.steps) + 1, 0, rec.gp->site,
                 static_cast<std::uint8_t>(rec.gp->why.load(std::memory_order_relaxed)));
}

// det_leak_step: fail_on_leak, main has returned and nothing is runnable.
// Moves the run towards quiescence: fds ready now, a plain thread's readies,
// then virtual time up to the next timer while any timer that is not periodic
// is pending. Once only tickers (or nothing) remain, every goroutine still
// parked is leaked: the run fails with a leak_error listing them as a dump
// does; else the run ends as usual (sched.exiting). On g0.
GORO_DETAIL_COMPILED void det_leak_step(sched_t* s) {
  det_state& d = *s->det;
  netpoller* np = s->np.load(std::memory_order_relaxed);
  if (np != nullptr && s->netpoll_waiters.load(std::memory_order_relaxed) > 0)
    if (g* list = netpoll_ready(s, np, 0)) {
      injectglist(s, list);
      return;
    }
  if (d.has_foreign.load(std::memory_order_acquire)) return;  // det_next takes them
  if (plain_threads_in_goro.load(std::memory_order_seq_cst) > 0) {  // it may ready one (as det_loop waits)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    return;
  }
  bool one_shot = false;  // a pending timer that fires once (a sleep, a deadline, a timer, after)
  for (p* pp : s->allp) {
    rt_lock_guard lk(pp->timers.lock);
    for (const timer_heap::slot& sl : pp->timers.heap)
      if (sl.t->period == 0) one_shot = true;
  }
  if (one_shot) {
    det_step(s);
    std::int64_t next = timers_earliest(s);
    if (next > d.now) d.now = next;
    run_timers(s, d.now);
    return;
  }
  d.leak_wait = false;
  std::size_t blocked = 0;
  for (const det_g& rec : d.gs)
    if (rec.gp != nullptr && rec.gp->status.load(std::memory_order_relaxed) == gstatus::waiting) ++blocked;
  if (blocked == 0) {
    s->exiting.store(true, std::memory_order_relaxed);
    return;
  }
  det_trace_blocked(s);
  det_fail(s, std::make_exception_ptr(leak_error("goroutine leak: " + std::to_string(blocked) +
                                                 (blocked == 1 ? " goroutine is" : " goroutines are") +
                                                 " still blocked after main returned (" + det_origin(d) + ")\n\n" + det_dump(s))));
}

// det_loop is g0 of the run: it runs goroutines until none is left, moving
// the virtual clock and polling fds when none is runnable, and finds
// deadlocks.
GORO_DETAIL_COMPILED void det_loop(sched_t* s, m* mp) {
  det_state& d = *s->det;
  for (;;) {
    if (g* gp = det_next(s)) {
      execute(mp, gp);
      continue;
    }
    if (d.live == 0) return;
    if (GORO_DETAIL_UNLIKELY(d.leak_wait)) {
      det_leak_step(s);
      continue;
    }
    std::int64_t next = timers_earliest(s);
    netpoller* np = s->np.load(std::memory_order_relaxed);
    if (np != nullptr && s->netpoll_waiters.load(std::memory_order_relaxed) > 0) {
      // Wait for fd events for real, at most until the next timer's virtual time.
      std::int64_t wait = next == no_timer ? -1 : std::max<std::int64_t>(next - d.now, 0);
      if (g* list = netpoll_ready(s, np, wait)) {
        injectglist(s, list);
        continue;
      }
    }
    if (next != no_timer && !(d.unwinding && d.steps > d.max_steps)) {
      // Nothing can run before the next timer: jump to it (one step).
      det_step(s);
      if (next > d.now) d.now = next;
      run_timers(s, d.now);
      continue;
    }
    if (d.has_foreign.load(std::memory_order_acquire)) continue;  // a plain thread readied one: det_next takes it
    if (d.unwinding) return;  // the rest can never end: abandoned
    if (plain_threads_in_goro.load(std::memory_order_seq_cst) > 0) {
      // A plain thread is inside a goro call and may ready one (checkdead
      // holds back likewise in threaded mode): wait for it, for real.
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    det_trace_blocked(s);
    det_fail(s, std::make_exception_ptr(deadlock_error("all goroutines are asleep - deadlock!\n\n" + det_dump(s, true))));
  }
}
#else
GORO_DETAIL_COMPILED void det_race_enable(det_state& d);
GORO_DETAIL_COMPILED void det_params(det_state& d, const config& c);
GORO_DETAIL_COMPILED const char* strategy_name(sim::strategy s) noexcept;
GORO_DETAIL_COMPILED std::uint64_t& det_run_counter() noexcept;
GORO_DETAIL_COMPILED void det_thread_setup(g& g0);
GORO_DETAIL_COMPILED void det_leak_step(sched_t* s);
GORO_DETAIL_COMPILED void det_loop(sched_t* s, m* mp);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// det_run is run() in deterministic mode. det_run_with does the work without
// the body's type; start creates main's goroutine from fn.
using det_main_start = void (*)(sched_t* s, void* fn, source_loc site);
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void det_run_with(det_main_start start, void* fn, config cfg, source_loc site, det_input in) {
  validate(cfg);
  det_state d;
  d.in = in;
  det_params(d, cfg);
  if (d.pct_depth == 0) throw std::invalid_argument("goro::config: pct_depth is 0");
  // A single run of strategy::dfs is dfs's first schedule: no preemption.
  det_ctl single;
  d.ctl = d.in.ctl;
  if (d.ctl == nullptr && d.how == sim::strategy::dfs && !d.in.by_choices) d.ctl = &single;
  if (d.ctl != nullptr) d.ctl->begin();
  d.pick_how = d.ctl != nullptr ? sim::strategy::pct : d.how;
  d.rng = d.seed;
  d.run_id = ++det_run_counter();
  if (d.how == sim::strategy::pct) {
    for (unsigned i = 1; i < d.pct_depth; ++i) d.pct_change_at.push_back(1 + d.next_rand() % std::max(1u, d.pct_steps));
    std::sort(d.pct_change_at.begin(), d.pct_change_at.end());
  }
  cfg.procs = 1;
  std::unique_ptr<sched_t> s(new sched_t(cfg, false));
  s->det = &d;
  m mp;
  mp.sched = s.get();
  mp.g0.sched = s.get();
  mp.g0.is_thread = false;
  det_thread_setup(mp.g0);
  {
    rt_lock_guard lk(s->lock);
    acquirep(&mp, pidleget_locked(s.get()));
  }
  // The trace: explore's replay of a failing seed, or a single run under
  // $GORO_DEBUG=trace=<path> (trace.hpp); time is the step counter.
  std::string trace_path = in.trace_path != nullptr ? std::string(in.trace_path) : std::string();
  if (trace_path.empty() && !in.quiet) trace_path = debug_setting("trace");
  if (!trace_path.empty()) {
    trace_start(s.get(), trace_path, &d.steps);
    s->trace->seed = d.seed;
  }
  struct thread_binding {  // this thread is the run's only M while it lasts
    explicit thread_binding(m* mp, const std::int64_t* clock) noexcept {
      set_tls_m(mp);
      det_clock = clock;
    }
    ~thread_binding() {
      set_tls_m(nullptr);
      det_clock = nullptr;
    }
  };
  {
    thread_binding bind(&mp, &d.now);
    {
      rt_region rt;
      start(s.get(), fn, site);
      det_loop(s.get(), &mp);
      rt_lock_guard lk(s->lock);
      pidleput_locked(s.get(), releasep(&mp));
    }
    san_edge(s.get(), false);  // every goroutine's end (g_entry) happens before run() returns
  }
  std::exception_ptr failure = d.failure;
  std::exception_ptr main_exception = s->main_exception;
  if (s->trace != nullptr) {
    if (failure || main_exception) {  // the page's title: the run's failure, or what escaped main
      try {
        std::rethrow_exception(failure ? failure : main_exception);
      } catch (const std::exception& e) {
        s->trace->title = e.what();
      } catch (...) {
      }
    }
    trace_finish(s.get());
  }
  if (d.ctl != nullptr) d.ctl->steps = d.steps;
  s.reset();
  if (failure) {
    if (!d.in.by_choices && !in.replay && in.repro && d.ctl == nullptr) {
      std::string line = "goro: reproduce with GORO_SEED=" + std::to_string(d.seed) + " GORO_STRATEGY=" + strategy_name(d.how) +
                         " GORO_PCT_DEPTH=" + std::to_string(d.pct_depth) + " GORO_PCT_STEPS=" + std::to_string(d.pct_steps) + "\n";
      write_err(line.c_str(), line.size());
    }
    std::rethrow_exception(failure);
  }
  if (main_exception) std::rethrow_exception(main_exception);
}
#else
GORO_DETAIL_COMPILED void det_run_with(det_main_start start, void* fn, config cfg, source_loc site, det_input in);
#endif  // GORO_DETAIL_DEFINE_COMPILED
template <class F>
void det_run(F&& main_fn, config cfg, source_loc site, det_input in) {
  using fn_ptr = std::remove_reference_t<F>*;  // F may be a function, or const
  det_main_start start = [](sched_t* s, void* fn, source_loc at) {
    newproc(s, closure<F>{std::forward<F>(**static_cast<fn_ptr*>(fn)), {}}, at, true);
  };
  fn_ptr p = std::addressof(main_fn);
  det_run_with(start, &p, cfg, site, in);
}

// det_shared_state: the access history of one sim::shared (see "Race
// detector" above; FastTrack's write epoch and per-goroutine read epochs).
struct det_access {
  std::uint64_t gid = 0;
  std::uint32_t epoch = 0;
  source_loc site;
  bool by_operator = false;  // site is the goroutine's creation site
  std::uint64_t step = 0;
};

struct det_shared_state {
  std::uint64_t run_id = 0;
  det_access last_write;
  std::vector<det_access> reads;  // since the last write, one per goroutine
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED std::string det_describe(const det_access& a, const char* kind) {
  std::string out = std::string(kind) + " by goroutine " + std::to_string(a.gid);
  out += a.by_operator ? " (an operator; goroutine created at " : " at ";
  append_site(out, a.site);
  if (a.by_operator) out += ")";
  out += ", step " + std::to_string(a.step);
  return out;
}

// det_shared_access: a load (write = false) or store of a sim::shared: a
// scheduling point, then the happens-before check. Throws goroutine_exit
// after recording a race_error.
GORO_DETAIL_COMPILED void det_shared_access(det_shared_state& st, bool write, source_loc site, bool by_operator) {
  rt_region rt;
  det_point(true);
  m* mp = getm();
  if (mp == nullptr || mp->curg == nullptr || mp->sched->det == nullptr) return;  // outside a run: a plain variable
  sched_t* s = mp->sched;
  det_state& d = *s->det;
  det_race_enable(d);
  if (st.run_id != d.run_id) st = det_shared_state{d.run_id, {}, {}};
  g* gp = mp->curg;
  det_g& me = d.gs[gp->id];
  det_access now{gp->id, vc_get(me.vc, gp->id), by_operator ? gp->site : site, by_operator, d.steps};
  auto ordered = [&](const det_access& a) { return a.gid == 0 || a.gid == gp->id || a.epoch <= vc_get(me.vc, a.gid); };
  const det_access* other = nullptr;
  const char* other_kind = "write";
  if (!ordered(st.last_write)) other = &st.last_write;
  if (write && other == nullptr) {
    for (const det_access& r : st.reads)
      if (!ordered(r)) {
        other = &r;
        other_kind = "read";
        break;
      }
  }
  if (other != nullptr) {
    if (tracing(s)) {  // both accesses, each on its goroutine's lane at its step
      trace_mark(s, trace_kind::race, now.gid, static_cast<std::int64_t>(now.step), other->gid, now.site, write ? 1 : 0);
      trace_mark(s, trace_kind::race, other->gid, static_cast<std::int64_t>(other->step), now.gid, other->site,
                 other_kind[0] == 'w' ? 1 : 0);
    }
    std::string msg = "data race on a goro::sim::shared (" + det_origin(d) + "):\n  " + det_describe(now, write ? "write" : "read") + "\n  " + det_describe(*other, other_kind) +
                      "\n  with no happens-before edge between them (a channel operation, lock, wait_group or once)\n\n" + det_dump(s);
    det_fail(s, std::make_exception_ptr(race_error(msg)));
    // Main is unwound last (see the top of the file): the others may still use
    // objects on its stack (a channel they are parked on, a mutex they hold)
    // while they unwind. So main only yields until its turn comes, when
    // det_point throws goroutine_exit. Inside blocking<> det_point never
    // switches: main throws at once there.
    if (gp->is_main && gp->in_blocking == 0)
      for (;;) det_point(true);
    gp->unwind.store(unwind_thrown, std::memory_order_relaxed);
    throw goroutine_exit{};
  }
  if (write) {
    st.last_write = now;
    st.reads.clear();
  } else {
    for (det_access& r : st.reads)
      if (r.gid == now.gid) {
        r = now;
        return;
      }
    st.reads.push_back(now);
  }
}
#else
GORO_DETAIL_COMPILED void det_shared_access(det_shared_state& st, bool write, source_loc site, bool by_operator);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// det_no_state: sim::shared's history in threaded mode, where it is a plain
// variable: an access checks nothing.
struct det_no_state {};
inline void det_shared_access(det_no_state&, bool, source_loc, bool) noexcept {}

}  // namespace detail

namespace sim {

// point: an extra scheduling point (docs/reference.md, "Deterministic mode");
// nothing in threaded mode.
inline void point() { detail::sched_point(); }

// shared<T>: a variable whose loads and stores are scheduling points and are
// checked for data races (docs/reference.md, "Deterministic mode"): load/store record their caller's file and
// line, the operators their goroutine's creation site. ++, --, += and -= are a
// load and then a store: not atomic, on purpose. In threaded mode it is a
// plain T (no checks, no synchronization).
template <class T>
class shared {
 public:
  shared() = default;
  shared(T v) : v_(std::move(v)) {}  // NOLINT: implicit, like the T it stands for
  shared(const shared&) = delete;
  shared& operator=(const shared&) = delete;

  T load(detail::source_loc site = detail::source_loc::here()) const {
    access(false, site, false);
    return v_;
  }
  void store(T v, detail::source_loc site = detail::source_loc::here()) {
    access(true, site, false);
    v_ = std::move(v);
  }
  operator T() const {  // NOLINT: implicit on purpose
    access(false, {}, true);
    return v_;
  }
  shared& operator=(T v) {
    access(true, {}, true);
    v_ = std::move(v);
    return *this;
  }

  shared& operator+=(T d) requires std::is_arithmetic_v<T> { return *this = static_cast<T>(T(*this) + d); }
  shared& operator-=(T d) requires std::is_arithmetic_v<T> { return *this = static_cast<T>(T(*this) - d); }
  shared& operator++() requires std::is_arithmetic_v<T> { return *this += T(1); }
  shared& operator--() requires std::is_arithmetic_v<T> { return *this -= T(1); }
  T operator++(int) requires std::is_arithmetic_v<T> {
    T old = *this;
    *this = static_cast<T>(old + T(1));
    return old;
  }
  T operator--(int) requires std::is_arithmetic_v<T> {
    T old = *this;
    *this = static_cast<T>(old - T(1));
    return old;
  }

 private:
  void access([[maybe_unused]] bool write, [[maybe_unused]] detail::source_loc site, [[maybe_unused]] bool by_operator) const {
    detail::det_shared_access(st_, write, site, by_operator);
  }
  T v_{};
  mutable std::conditional_t<detail::deterministic, detail::det_shared_state, detail::det_no_state> st_;
};

struct explore_options {
  std::uint64_t first_seed = 1;
  std::size_t runs = 1000;  // dfs: at most this many schedules
  strategy how = strategy::random;
  unsigned pct_depth = 3;
  unsigned pct_steps = 100;
  std::uint64_t max_steps = 10'000'000;
  // max_preemptions: dfs explores every schedule with at most this many
  // preemptions (det.hpp, "Controlled runs").
  unsigned max_preemptions = 2;
  // jobs: runs on this many forked processes (0: the CPU count); the result
  // is the same as with jobs = 1.
  unsigned jobs = 1;
  // fail_on_leak: a goroutine still blocked for good once main has returned
  // fails the run with a leak_error (config::fail_on_leak).
  bool fail_on_leak = false;
  // shrink: a failure is shrunk to its fewest preemptions, then to a short
  // run, before it is returned.
  bool shrink = true;
  // trace_path: non-empty: the failing run's trace is written there
  // (trace-event JSON, the steps on the time axis) with an HTML timeline next
  // to it (trace.hpp, trace_html_path). explore replays the failing schedule
  // with recording on, so the runs before it cost nothing.
  std::string trace_path;
};

struct explore_result {
  bool ok = true;
  std::uint64_t failing_seed = 0;
  std::string message;
  std::size_t runs_done = 0;
  bool exhausted = false;             // dfs: every schedule within max_preemptions ran, none failed
  std::vector<std::uint8_t> choices;  // the failing schedule as run_with_choices bytes (after shrinking)
  unsigned preemptions = 0;           // preemptions in that schedule
};

// seed: the seed of the run in progress (0 outside a run, and in threaded mode).
inline std::uint64_t seed() noexcept {
  detail::sched_t* s = detail::det_current_run();
  return s != nullptr && s->det != nullptr ? s->det->seed : 0;
}

// trace_hash: a hash of the scheduling decisions of the run so far (equal
// seeds give equal hashes; tests compare them). 0 in threaded mode.
inline std::uint64_t trace_hash() noexcept {
  detail::sched_t* s = detail::det_current_run();
  return s != nullptr && s->det != nullptr ? s->det->trace : 0;
}

// steps: scheduling steps of the run so far. 0 in threaded mode.
inline std::uint64_t steps() noexcept {
  detail::sched_t* s = detail::det_current_run();
  return s != nullptr && s->det != nullptr ? s->det->steps : 0;
}

}  // namespace sim

namespace detail {

// ---------------------------------------------------------------------------
// explore's machinery: the seed and dfs searches, shrinking and the final
// replay (docs/design.md, "Deterministic mode": "dfs", "Shrinking").

// det_outcome: how one run of explore's body ended.
struct det_outcome {
  bool failed = false;
  std::string message;
  std::string sig;  // the failure's kind: its type and first line, digits and parentheses dropped
};

inline std::string det_signature(const char* type, std::string_view what) {
  std::string out = type;
  out += ':';
  std::string_view first = what.substr(0, what.find('\n'));
  first = first.substr(0, first.find('('));
  for (char ch : first)
    if (ch < '0' || ch > '9') out += ch;
  return out;
}

// det_body: explore's body without its type (a pointer and a caller).
struct det_body {
  void* obj;
  void (*call)(void*);
  void operator()() const { call(obj); }
};

template <class F>
det_outcome det_try(F& body, const config& c, source_loc site, const det_input& in) {
  det_outcome out;
  try {
    det_run([&body] { body(); }, c, site, in);
  } catch (const std::exception& e) {
    out = det_outcome{true, e.what(), det_signature(typeid(e).name(), e.what())};
  } catch (...) {
    out = det_outcome{true, "an exception that is not a std::exception", "?"};
  }
  return out;
}

// det_par_chunks: explore's jobs. Chunks 0 .. nchunks-1 run on `jobs`
// forked worker processes, handed out in order, one at a time, each
// worker's next chunk as soon as it reports the last: work(c, out) runs in
// the worker and fills out[0..1] (out[0] != 0: a failure). Once a chunk
// reports a failure, no chunk after it is handed out, and the call returns
// when every chunk before it has reported (so the lowest failing chunk is
// final: the result is the serial one). Returns that chunk, or nchunks.
// results[c] holds each reported chunk's words. A worker that dies (its
// body crashed the process) throws std::runtime_error in the caller.
template <class Work>
std::size_t det_par_chunks(unsigned jobs, std::size_t nchunks, Work work, std::vector<std::array<std::uint64_t, 2>>& results) {
  struct worker {
    pid_t pid = -1;
    int to = -1, from = -1;
    bool busy = false;
  };
  results.assign(nchunks, {0, 0});
  std::vector<worker> ws(std::min<std::size_t>(jobs, nchunks));
  // A write to a dead worker's pipe must fail with EPIPE, not kill the
  // caller: SIGPIPE is ignored for the call (the workers inherit that).
  struct sigpipe_ignored {
    struct sigaction old {};
    sigpipe_ignored() {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      ::sigemptyset(&ign.sa_mask);
      ::sigaction(SIGPIPE, &ign, &old);
    }
    ~sigpipe_ignored() { ::sigaction(SIGPIPE, &old, nullptr); }
  } sigpipe_guard;
  auto write_all = [](int fd, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t k = ::write(fd, c, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      c += k;
      n -= static_cast<std::size_t>(k);
    }
    return true;
  };
  auto read_all = [](int fd, void* p, std::size_t n) {
    char* c = static_cast<char*>(p);
    while (n > 0) {
      ssize_t k = ::read(fd, c, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      c += k;
      n -= static_cast<std::size_t>(k);
    }
    return true;
  };
  std::fflush(nullptr);  // nothing buffered is written twice
  for (std::size_t w = 0; w < ws.size(); ++w) {
    int a[2], b[2];
    if (::pipe(a) != 0) throw std::system_error(errno, std::generic_category(), "goro: explore: pipe");
    if (::pipe(b) != 0) {
      ::close(a[0]);
      ::close(a[1]);
      throw std::system_error(errno, std::generic_category(), "goro: explore: pipe");
    }
    pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "goro: explore: fork");
    if (pid == 0) {  // the worker: chunks in, results out, until the pipe closes
      ::close(a[1]);
      ::close(b[0]);
      for (std::size_t v = 0; v < w; ++v) {
        ::close(ws[v].to);
        ::close(ws[v].from);
      }
      // Never returns into the caller's frames (they belong to the parent's
      // explore): an exception out of work (out of memory) ends the worker,
      // which the parent reports.
      try {
        std::uint64_t c;
        while (read_all(a[0], &c, sizeof c)) {
          std::uint64_t msg[3] = {c, 0, 0};
          work(static_cast<std::size_t>(c), msg + 1);
          if (!write_all(b[1], msg, sizeof msg)) break;
        }
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(a[0]);
    ::close(b[1]);
    ws[w] = worker{pid, a[1], b[0], false};
  }
  std::size_t next = 0, failed = nchunks;
  bool died = false;
  auto hand_out = [&](worker& wk) {
    if (next < nchunks && next < failed) {
      std::uint64_t c = next++;
      wk.busy = write_all(wk.to, &c, sizeof c);
      if (!wk.busy) died = true;
    }
  };
  for (worker& wk : ws) hand_out(wk);
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    for (worker& wk : ws)
      if (wk.busy) fds.push_back(pollfd{wk.from, POLLIN, 0});
    if (fds.empty() || died) break;
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      died = true;
      break;
    }
    for (const pollfd& f : fds) {
      if (f.revents == 0) continue;
      worker* wk = nullptr;
      for (worker& x : ws)
        if (x.from == f.fd) wk = &x;
      std::uint64_t msg[3];
      if (!read_all(wk->from, msg, sizeof msg)) {
        died = true;
        wk->busy = false;
        continue;
      }
      results[msg[0]] = {msg[1], msg[2]};
      if (msg[1] != 0 && msg[0] < failed) failed = static_cast<std::size_t>(msg[0]);
      wk->busy = false;
      hand_out(*wk);
    }
  }
  for (worker& wk : ws) {
    ::close(wk.to);
    ::close(wk.from);
    if (died) ::kill(wk.pid, SIGKILL);
    int st;
    while (::waitpid(wk.pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (died) throw std::runtime_error("goro: explore: a worker process died (jobs > 1); run with jobs = 1 to see why");
  return failed;
}

inline unsigned det_jobs(unsigned jobs) {
  if (jobs != 0) return jobs;
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1u;
}

// det_explorer: one explore call's state (options, the runs left for
// shrinking). Not shared between threads.
template <class F>
struct det_explorer {
  F& body;
  const sim::explore_options& o;
  source_loc site;
  std::size_t shrink_budget = 4000;  // runs shrinking may spend
  std::uint64_t plan_seed = 1;       // the seed of planned runs: the failing run's (a trace records it)

  config cfg(std::uint64_t seed, sim::strategy how) const {
    config c;
    c.seed = seed;
    c.how = how;
    c.pct_depth = o.pct_depth;
    c.pct_steps = o.pct_steps;
    c.max_steps = o.max_steps;
    c.fail_on_leak = o.fail_on_leak;
    return c;
  }
  static det_input search_input(det_ctl* ctl) {
    det_input in;
    in.quiet = true;
    in.lock_sites = false;
    in.repro = false;
    in.ctl = ctl;
    return in;
  }

  // run_plan: the schedule that deviates from the default exactly at devs,
  // with det_rand's values from rands. Fills ctl with what the run recorded.
  det_outcome run_plan(det_ctl& ctl, const std::vector<det_ctl::deviation>& devs, const std::vector<std::uint8_t>& rands,
                       const det_input& in_base) {
    ctl.how = det_ctl::kind::plan;
    ctl.plan.clear();
    for (const det_ctl::deviation& dv : devs) ctl.plan[dv.key] = dv.target;
    ctl.rands_in = rands;
    det_input in = in_base;
    in.ctl = &ctl;
    return det_try(body, cfg(plan_seed, sim::strategy::random), site, in);
  }

  // backtrack: the next dfs path after a run (iterative context bounding:
  // the deepest branch point with an option left takes its next option).
  // The first `floor` frames stay as they are (a subtree of jobs > 1).
  static bool backtrack(det_ctl& ctl, std::size_t floor = 0) {
    if (ctl.stack.size() > ctl.frame_pos) ctl.stack.resize(std::max(ctl.frame_pos, floor));
    while (ctl.stack.size() > floor && ctl.stack.back().chosen + 1 >= ctl.stack.back().n) ctl.stack.pop_back();
    if (ctl.stack.size() <= floor) return false;
    ++ctl.stack.back().chosen;
    return true;
  }

  // dfs_level: level b of dfs below ctl.stack's first `floor` frames, in
  // order: leaf(outcome, ctl) for every schedule with exactly b preemptions
  // (those with fewer belong to a lower level), until it returns false.
  template <class Leaf>
  void dfs_level(det_ctl& ctl, unsigned b, std::size_t floor, Leaf leaf) {
    ctl.how = det_ctl::kind::dfs;
    ctl.bound = b;
    config c = cfg(o.first_seed, sim::strategy::dfs);
    for (;;) {
      det_outcome out = det_try(body, c, site, search_input(&ctl));
      if (ctl.preemptions == b && !leaf(out, ctl)) return;
      if (!backtrack(ctl, floor)) return;
    }
  }

  // shrink: fewest preemptions first (delta debugging over the deviations,
  // then a bounded dfs below the count reached), then the shortest run.
  // best/best_rands: a failing plan of signature sig; updated in place.
  void shrink(std::vector<det_ctl::deviation>& best, std::vector<std::uint8_t>& rands, const std::string& sig, unsigned& best_pre,
              std::uint64_t& best_steps) {
    det_ctl ctl;
    det_input in = search_input(nullptr);
    auto take = [&](const det_ctl& c) {
      best = c.devs;
      rands = c.rands;
      best_pre = c.preemptions;
      best_steps = c.steps;
    };
    auto still_fails = [&](const std::vector<det_ctl::deviation>& cand) {
      if (shrink_budget == 0) return false;
      --shrink_budget;
      det_outcome out = run_plan(ctl, cand, rands, in);
      if (!out.failed || out.sig != sig) return false;
      take(ctl);
      return true;
    };
    // Delta debugging: drop chunks of deviations, halving the chunk size.
    for (int round = 0; round < 3 && !best.empty(); ++round) {
      bool progress = false;
      for (std::size_t chunk = std::max<std::size_t>(1, best.size() / 2);; chunk /= 2) {
        for (std::size_t start = 0; start < best.size() && shrink_budget > 0;) {
          std::vector<det_ctl::deviation> cand(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(start));
          cand.insert(cand.end(), best.begin() + static_cast<std::ptrdiff_t>(std::min(best.size(), start + chunk)), best.end());
          if (still_fails(cand)) progress = true;
          else start += chunk;
        }
        if (chunk <= 1) break;
      }
      if (!progress) break;
    }
    // Bounded dfs from bound 0 up to the count reached: the first bound with
    // a failure of the same kind gives the fewest preemptions; among its
    // failures found within the budget, the fewest steps.
    for (unsigned b = 0; b <= best_pre && shrink_budget > 0; ++b) {
      det_ctl d;
      d.how = det_ctl::kind::dfs;
      d.bound = b;
      d.rands_in = rands;
      std::size_t cap = std::min<std::size_t>(shrink_budget, 500);
      bool found = false;
      std::vector<det_ctl::deviation> fdevs;
      std::vector<std::uint8_t> frands;
      unsigned fpre = 0;
      std::uint64_t fsteps = 0;
      for (std::size_t k = 0; k < cap; ++k) {
        --shrink_budget;
        det_outcome out = det_try(body, cfg(plan_seed, sim::strategy::dfs), site, search_input(&d));
        if (out.failed && out.sig == sig && (!found || d.preemptions < fpre || (d.preemptions == fpre && d.steps < fsteps))) {
          found = true;
          fdevs = d.devs;
          frands = d.rands;
          fpre = d.preemptions;
          fsteps = d.steps;
        }
        if (!backtrack(d)) break;
      }
      if (found && (fpre < best_pre || (fpre == best_pre && fsteps < best_steps))) {
        best = fdevs;
        rands = frands;
        best_pre = fpre;
        best_steps = fsteps;
      }
      if (found) break;
    }
  }

  // finish: r failed (r.message, sig) with a run whose deviations and
  // det_rand values are devs and rands (recorded by a controlled run).
  // Shrinks it if asked, replays the result with lock sites (and the trace)
  // on, and fills r's message, choices and preemptions. `from` names the
  // original run for the reproduce line.
  void finish(sim::explore_result& r, std::vector<det_ctl::deviation> devs, std::vector<std::uint8_t> rands, const std::string& sig,
              const std::string& from) {
    plan_seed = r.failing_seed;
    det_ctl ctl;
    det_outcome check = run_plan(ctl, devs, rands, search_input(nullptr));
    if (!check.failed || check.sig != sig) {
      // Not reproducible as a plan (a run that waited on fds): the first message stands.
      std::string line = "goro: reproduce with " + from + "\n";
      write_err(line.c_str(), line.size());
      return;
    }
    devs = ctl.devs;
    rands = ctl.rands;
    unsigned pre = ctl.preemptions, first_pre = pre;
    std::uint64_t steps = ctl.steps, first_steps = steps;
    if (o.shrink) shrink(devs, rands, sig, pre, steps);
    det_input in = search_input(nullptr);
    in.lock_sites = true;
    in.replay = true;
    if (!o.trace_path.empty()) in.trace_path = o.trace_path.c_str();
    det_outcome fin = run_plan(ctl, devs, rands, in);
    if (!fin.failed || fin.sig != sig) return;  // cannot happen without fds: keep the first message
    r.message = fin.message;
    r.preemptions = ctl.preemptions;
    if (ctl.bytes_ok) r.choices = ctl.bytes;
    if (o.shrink) {
      r.message += "\ngoro: this failure needs " + std::to_string(r.preemptions) +
                   (r.preemptions == 1 ? " preemption" : " preemptions") + " (shrunk from " + std::to_string(first_pre) + " in " +
                   std::to_string(first_steps) + " steps to " + std::to_string(ctl.preemptions) + " in " + std::to_string(ctl.steps) +
                   " steps)";
    }
    std::string line = "goro: reproduce with " +
                       (r.choices.empty() ? std::string() : "GORO_CHOICES=" + det_hex(r.choices) + " (or ") + from +
                       (r.choices.empty() ? "" : ")") + "\n";
    write_err(line.c_str(), line.size());
  }

  // failed_seed: the seed run c failed (r filled): record its schedule by
  // running the seed again observed, then finish.
  void failed_seed(sim::explore_result& r, const config& c, const det_outcome& first) {
    std::string from = "GORO_SEED=" + std::to_string(c.seed) + " GORO_STRATEGY=" + strategy_name(c.how) +
                       " GORO_PCT_DEPTH=" + std::to_string(c.pct_depth) + " GORO_PCT_STEPS=" + std::to_string(c.pct_steps);
    det_ctl ctl;
    ctl.how = det_ctl::kind::observe;
    det_outcome again = det_try(body, c, site, search_input(&ctl));
    if (!again.failed || again.sig != first.sig) {
      // A run that waited on fds did not fail the same way again: replay
      // for the report as before, without choices.
      det_input in = search_input(nullptr);
      in.lock_sites = true;
      in.replay = true;
      if (!o.trace_path.empty()) in.trace_path = o.trace_path.c_str();
      det_outcome rep = det_try(body, c, site, in);
      if (rep.failed && rep.sig == first.sig) r.message = rep.message;
      std::string line = "goro: reproduce with " + from + "\n";
      write_err(line.c_str(), line.size());
      return;
    }
    finish(r, ctl.devs, ctl.rands, first.sig, from);
  }
};


// det_explore is sim::explore without the body's type: the search, shrinking
// and jobs are compiled once (in the implementation TU under split
// compilation), not once per call site's lambda.
GORO_DETAIL_COMPILED sim::explore_result det_explore(det_body body, sim::explore_options o, source_loc site);
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED sim::explore_result det_explore(det_body body, sim::explore_options o, source_loc site) {
  using namespace sim;
  explore_result r;
  detail::det_explorer<detail::det_body> ex{body, o, site};
  bool tty = ::isatty(2) == 1;
  std::int64_t start = detail::mono_ns(), shown = start;
  auto progress = [&](std::size_t done, const char* what) {
    std::int64_t t = detail::mono_ns();
    if (!tty || t - shown <= 250'000'000) return;
    shown = t;
    char line[160];
    int n = std::snprintf(line, sizeof line, "\rgoro explore: %zu/%zu runs, %.0f %s/s, strategy %s ", done, o.runs,
                          static_cast<double>(done) * 1e9 / static_cast<double>(t - start), what, detail::strategy_name(o.how));
    detail::write_err(line, static_cast<std::size_t>(n));
  };
  if (o.how == strategy::dfs) {
    // Iterative context bounding: every schedule with 0 preemptions, then
    // every one with exactly 1, ... up to max_preemptions. Level b is a dfs
    // bounded by b whose schedules with fewer preemptions (already counted
    // at a lower level) run again only to reach the new ones.
    unsigned jobs = detail::det_jobs(o.jobs);
    bool stop = false;
    auto failed_at = [&](const detail::det_outcome& out, const detail::det_ctl& ctl) {
      r.ok = false;
      r.failing_seed = o.first_seed;
      r.message = out.message;
      ex.finish(r, ctl.devs, ctl.rands, out.sig, "GORO_STRATEGY=dfs (schedule " + std::to_string(r.runs_done) + ")");
      stop = true;
    };
    for (unsigned b = 0; b <= o.max_preemptions && !stop; ++b) {
      detail::det_ctl ctl;
      if (jobs <= 1 || b == 0) {
        ex.dfs_level(ctl, b, 0, [&](const detail::det_outcome& out, const detail::det_ctl& c) {
          if (r.runs_done == o.runs) {
            stop = true;
            return false;
          }
          ++r.runs_done;
          if (out.failed) {
            failed_at(out, c);
            return false;
          }
          progress(r.runs_done, "schedules");
          return true;
        });
        continue;
      }
      // jobs > 1: the subtrees that the default schedule's branch points
      // open (in dfs order: the deepest point first, then its options in
      // order) run on forked workers; each reports its schedules of level b
      // and its first failure. The parent adds them up in order, as one job
      // would have counted, and replays the failing subtree itself.
      detail::det_input in0 = ex.search_input(&ctl);
      ctl.how = detail::det_ctl::kind::dfs;
      ctl.bound = b;
      (void)detail::det_try(body, ex.cfg(o.first_seed, strategy::dfs), site, in0);  // the default schedule: level 0's
      std::vector<detail::det_ctl::frame> path(ctl.stack.begin(), ctl.stack.begin() + static_cast<std::ptrdiff_t>(ctl.frame_pos));
      std::vector<std::pair<std::size_t, std::uint32_t>> items;  // (branch point, option)
      for (std::size_t i = path.size(); i-- > 0;)
        for (std::uint32_t a = 1; a < path[i].n; ++a) items.emplace_back(i, a);
      auto item_ctl = [&](std::size_t k) {
        detail::det_ctl c;
        c.stack.assign(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(items[k].first) + 1);
        c.stack.back().chosen = items[k].second;
        return c;
      };
      std::vector<std::array<std::uint64_t, 2>> res;
      std::size_t f = detail::det_par_chunks(jobs, items.size(), [&](std::size_t k, std::uint64_t* out) {
        detail::det_ctl c = item_ctl(k);
        std::uint64_t n = 0;
        ex.dfs_level(c, b, items[k].first + 1, [&](const detail::det_outcome& oc, const detail::det_ctl&) {
          ++n;
          if (oc.failed) out[0] = 1;
          return !oc.failed && n <= o.runs;  // past the cap: the parent needs no more
        });
        out[1] = n;
      }, res);
      for (std::size_t k = 0; k < items.size() && !stop; ++k) {
        std::uint64_t n = res[k][1];  // its schedules (up to its failure)
        if (n > o.runs - r.runs_done) {  // the cap comes first
          r.runs_done = o.runs;
          stop = true;
          break;
        }
        if (k != f) {
          r.runs_done += static_cast<std::size_t>(n);
          continue;
        }
        // The first failing subtree, within the cap: replay it up to its failure.
        detail::det_ctl c = item_ctl(k);
        ex.dfs_level(c, b, items[k].first + 1, [&](const detail::det_outcome& oc, const detail::det_ctl& cc) {
          ++r.runs_done;
          if (oc.failed) {
            failed_at(oc, cc);
            return false;
          }
          return true;
        });
        stop = true;
      }
    }
    r.exhausted = !stop;
  } else if (unsigned jobs = detail::det_jobs(o.jobs); jobs > 1 && o.runs > 1) {
    // Seed ranges on forked workers; the parent then replays the lowest
    // failing seed and shrinks it as one job would.
    std::size_t chunk = std::clamp<std::size_t>(o.runs / (std::size_t{jobs} * 16), 1, 256);
    std::size_t nchunks = (o.runs + chunk - 1) / chunk;
    std::vector<std::array<std::uint64_t, 2>> res;
    std::size_t f = detail::det_par_chunks(jobs, nchunks, [&](std::size_t k, std::uint64_t* out) {
      for (std::size_t i = k * chunk; i < std::min(o.runs, (k + 1) * chunk); ++i) {
        if (detail::det_try(body, ex.cfg(o.first_seed + i, o.how), site, ex.search_input(nullptr)).failed) {
          out[0] = 1;
          out[1] = i;
          return;
        }
      }
    }, res);
    r.runs_done = o.runs;
    if (f < nchunks) {
      std::size_t i = static_cast<std::size_t>(res[f][1]);
      config c = ex.cfg(o.first_seed + i, o.how);
      detail::det_outcome out = detail::det_try(body, c, site, ex.search_input(nullptr));
      r.runs_done = i + 1;
      if (out.failed) {
        r.ok = false;
        r.failing_seed = c.seed;
        r.message = out.message;
        ex.failed_seed(r, c, out);
      }
    }
  } else {
    for (std::size_t i = 0; i < o.runs; ++i) {
      config c = ex.cfg(o.first_seed + i, o.how);
      detail::det_outcome out = detail::det_try(body, c, site, ex.search_input(nullptr));
      if (out.failed) {
        r.ok = false;
        r.failing_seed = c.seed;
        r.message = out.message;
        r.runs_done = i + 1;
        ex.failed_seed(r, c, out);
        break;
      }
      r.runs_done = i + 1;
      progress(i + 1, "seeds");
    }
  }
  if (tty && shown != start) detail::write_err("\n");
  return r;
}
#endif  // GORO_DETAIL_DEFINE_COMPILED
}  // namespace detail

namespace sim {

// explore runs body under run() with seeds first_seed, first_seed + 1, ...,
// or with strategy::dfs every schedule within max_preemptions, and stops at
// the first failing run, which it shrinks (docs/reference.md, "Deterministic
// mode"). On a terminal it shows its progress on stderr. Deterministic mode
// only.
template <class F>
explore_result explore(F&& body, explore_options o = {}, detail::source_loc site = detail::source_loc::here()) {
  static_assert(detail::deterministic || detail::always_false<F>,
                "goro::sim::explore needs deterministic mode: build with -DGORO_DETERMINISTIC=1");
  using fn_ptr = std::remove_reference_t<F>*;  // F may be a function, or const
  fn_ptr p = std::addressof(body);
  return detail::det_explore(detail::det_body{&p, [](void* q) { (**static_cast<fn_ptr*>(q))(); }}, o, site);
}

// run_with_choices runs body under run() with every scheduling decision taken
// from the next byte of choices (modulo the number of choices; 0 once they
// run out): for fuzzers. Deterministic mode only.
template <class F>
void run_with_choices(std::span<const std::uint8_t> choices, F&& body, detail::source_loc site = detail::source_loc::here()) {
  static_assert(detail::deterministic || detail::always_false<F>,
                "goro::sim::run_with_choices needs deterministic mode: build with -DGORO_DETERMINISTIC=1");
  detail::det_input in;
  in.choices = choices.data();
  in.nchoices = choices.size();
  in.by_choices = true;
  in.quiet = true;
  config c;
  c.seed = 1;
  detail::det_run([&body] { body(); }, c, site, in);
}

}  // namespace sim
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_DET_HPP
