// goro/det_hooks.hpp — the contract between the threaded scheduler and the
// deterministic one (GORO_DETERMINISTIC=1; det.hpp implements it).
//
// Both modes compile both schedulers. The threaded scheduler (sched.hpp,
// park.hpp, run.hpp, blocking.hpp) reaches the deterministic one only at the
// hook points below, each written as
//
//     if constexpr (deterministic) { det_xxx(...); return; }
//
// so that a threaded build type-checks every hook call (and det.hpp's
// definitions) and pays nothing for them, and a deterministic build
// type-checks the threaded paths it skips. Like Go's netpoll.go ("an
// implementation must define the following functions"), this file is the
// whole list: a hook not declared here does not exist, and det.hpp defines
// each one. Everything above the park/ready seam (channels, select, sync,
// time, the netpoller) is the same code in both modes and calls no hook
// directly except through park.hpp (det_rand via cheaprand).
//
// Every hook runs on the deterministic run's only thread (the M whose g0 is
// det_loop), on a goroutine's stack or on g0; none is ever called from
// another thread.
#ifndef GORO_DETAIL_DET_HOOKS_HPP
#define GORO_DETAIL_DET_HOOKS_HPP

#include "config.hpp"
#include "runtime2.hpp"
#include "schedt.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// det_input: what drives a run besides its config: run_with_choices' bytes
// (each decision takes the next byte), explore's quiet flag, and the trace
// of a failing run that explore replays (trace.hpp): trace_path non-empty
// records the run and writes its trace; replay: the failure was reported
// already (no reproduce line); lock_sites: mutexes record where each was
// locked (held_push: an unwind per lock, microseconds), for the "locked at"
// of reports. explore's search runs leave it off and replay the failing seed
// with it on, so that only the reported run pays. ctl: a controlled run (dfs,
// shrinking's replays; det.hpp, "Controlled runs"), which also records the
// run's decisions. repro: print the reproduce line on failure (explore prints
// its own once the failure is shrunk).
struct det_ctl;
struct det_input {
  const std::uint8_t* choices = nullptr;
  std::size_t nchoices = 0;
  bool by_choices = false;
  bool quiet = false;
  bool replay = false;
  bool lock_sites = true;
  bool repro = true;
  const char* trace_path = nullptr;
  det_ctl* ctl = nullptr;
};

// --- the run queue ----------------------------------------------------------
// det_put adds gp (already marked runnable) to the run's runnable set. Replaces
// runqput and the global queue (ready, injectglist, run_pending's yield and
// cancelled park, newproc). Must not allocate or throw: det_spawn reserved room.
inline void det_put(sched_t* s, g* gp) noexcept;
// det_ready is ready()'s body: det_put on the run's thread; from any other
// thread (a plain thread's send, unlock or done) it hands gp over under a
// lock, and det_next takes it at its next decision. (The runnable set itself
// belongs to the run's thread alone.)
inline void det_ready(sched_t* s, g* gp);
// det_next makes one scheduling decision: removes and returns the G to run
// next, or nullptr when none is runnable. Counts a step (max_steps, PCT's
// change points) and begins the unwinding once the run fails or main returns.
// Replaces schedule's runq_next and find_runnable.
inline g* det_next(sched_t* s);

// --- scheduling points ---------------------------------------------------------
// det_point: a scheduling point of the running goroutine: it yields to
// det_next (which may pick it again). may_unwind: it may throw goroutine_exit
// when the run is unwinding (false for operations that run in destructors).
// Replaces safe_point's preemption check and is sched_point's body.
inline void det_point(bool may_unwind);
// det_wake_point: a scheduling point (never unwinding) if the running
// goroutine made another runnable since the last decision. wake_point's body.
inline void det_wake_point();

// --- goroutines -----------------------------------------------------------------
// det_spawn registers a new goroutine (newproc, before it is queued): its
// record, PCT priority, race-detector clock inherited from its parent.
inline void det_spawn(sched_t* s, g* gp);
// det_exit unregisters gp (goexit, before its last switch). Main's exit sets
// sched.exiting, or with fail_on_leak lets the others run on first (det.hpp).
inline void det_exit(sched_t* s, g* gp) noexcept;
// det_main_waits: gp begins a park while the run unwinds; is it main before
// its turn (main is unwound last), whose park det_unwind_main cancels later?
// False in threaded mode, where run_pending cancels every such park at once.
GORO_DETAIL_COMPILED bool det_main_waits(const g* gp) noexcept;

// --- failures ---------------------------------------------------------------------
// det_fail records the run's first failure (a panic, deadlock, race, livelock)
// and starts the unwinding; run() throws it once every goroutine has ended.
// Replaces panic_abort for exceptions escaping a goroutine.
GORO_DETAIL_COMPILED void det_fail(sched_t* s, std::exception_ptr e) noexcept;
// det_fatal: a Go fatal error (unlock of an unlocked mutex) fails the run as a
// panic_error instead of ending the process; abandons the calling goroutine.
// Replaces fatal in sync_fatal.
[[noreturn]] GORO_DETAIL_COMPILED void det_fatal(const char* msg) noexcept;

// --- choices and the race detector -----------------------------------------------
// det_rand: a random number that the seed (or the next choice byte) decides:
// select's poll order. 0 outside a run.
inline std::uint32_t det_rand() noexcept;
// det_race_acquire / det_race_release: the happens-before edges of Go's
// memory model at goro's sync operations, for sim::shared's race detector.
inline void det_race_acquire(const void* obj) noexcept;
inline void det_race_release(const void* obj) noexcept;

// det_dump lists the run's live goroutines as a failure report does (each
// parked one with where it waits); cycle: the mutex wait cycle first, if any.
GORO_DETAIL_COMPILED std::string det_dump(sched_t* s, bool cycle = false);

// --- report mode (see "Report mode" in det.hpp) ------------------------------------
// det_capture: resumes parked gp just long enough for its park() to capture
// its own stack (gp->park_tb), then comes back. From any context of the
// run's thread (g0 or the running goroutine), at report time only.
GORO_DETAIL_COMPILED void det_capture(g* gp);
// det_lock_sites: does the current run record lock sites (det_input::lock_sites)?
inline bool det_lock_sites() noexcept;
// det_reporting: park()'s side: gp was resumed in report mode.
inline bool det_reporting(g* gp) noexcept;
// det_report_return: park()'s side: switches back to the context that
// resumed gp in report mode.
inline void det_report_return(g* gp) noexcept;

// --- the run ---------------------------------------------------------------------
// det_run is goro::run in deterministic mode: one thread, one P, the seed's
// schedule, virtual time. Returns when every goroutine has ended; throws the
// run's failure or main's exception.
template <class F>
void det_run(F&& main_fn, config cfg, source_loc site, det_input in);

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_DET_HOOKS_HPP
