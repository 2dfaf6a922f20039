// tests/relacy/rl_atomic.hpp — goro_rl::atomic<T>, a std::atomic-shaped shim
// over Relacy's rl::atomic<T>, so lock-free goro code written as a template over
// its atomic type (runq_ring<Atomic, T, N>) can be model-checked unchanged.
//
// What it models: every load/store/exchange/CAS becomes a Relacy scheduling
// point with Relacy's C++11 memory model (stale relaxed reads, release/acquire
// happens-before, spurious weak-CAS failure). The call site is recorded in the
// Relacy history through __builtin_FILE/LINE/FUNCTION default arguments
// (clang 14 with libstdc++ 12 has no std::source_location).
//
// API: what runq_ring and the sync types (sync.hpp: mutex_impl, rwmutex_impl,
// wait_group_impl) use — load(order), store(v, order), exchange(v, order),
// fetch_add/fetch_sub(v, order) (integral T), compare_exchange_strong/weak
// (expected&, desired, success, failure) and the one-order forms
// (expected&, desired, order), whose failure order is derived as std::atomic
// does (acq_rel -> acquire, release -> relaxed), construction from a value
// (`Atomic<X> x{0}`) and default construction (`Atomic<T*> slots[N]{}`). As in
// C++20 std::atomic, default construction value-initialises (stores T{}), so a
// default-constructed atomic is never "uninitialised" to Relacy. Also
// goro_rl::full_fence(), a seq_cst fence (spinning.hpp's #StoreLoad).
//
// Lifetime trap: an rl::atomic's constructor registers it with the *current*
// Relacy context (ctx()), so every atomic, and every object that contains one,
// must be constructed while a simulation iteration is running: as a test_suite
// member or in before()/thread(), never at namespace scope or in main before
// rl::simulate. The initialising store is a relaxed store by the constructing
// thread; Relacy's global fence after before() publishes it to all threads.
//
// Include order: this header includes <relacy/relacy.hpp>, which #defines `$`,
// new, delete, malloc, assert, memory_order_* ... Include it LAST, after every
// std and goro header. Spell orders as std::memory_order::acquire in code that
// follows it (std::memory_order_acquire is rewritten by Relacy's macros).
#ifndef GORO_TESTS_RELACY_RL_ATOMIC_HPP
#define GORO_TESTS_RELACY_RL_ATOMIC_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>

#include <relacy/relacy.hpp>

namespace goro_rl {

// The failure order std::atomic uses for a one-order compare_exchange.
constexpr std::memory_order cas_failure_order(std::memory_order m) noexcept {
  return m == std::memory_order::acq_rel   ? std::memory_order::acquire
         : m == std::memory_order::release ? std::memory_order::relaxed
                                           : m;
}

inline rl::memory_order to_rl(std::memory_order m) noexcept {
  switch (m) {
    case std::memory_order::relaxed: return rl::mo_relaxed;
    case std::memory_order::consume: return rl::mo_consume;
    case std::memory_order::acquire: return rl::mo_acquire;
    case std::memory_order::release: return rl::mo_release;
    case std::memory_order::acq_rel: return rl::mo_acq_rel;
    case std::memory_order::seq_cst: return rl::mo_seq_cst;
  }
  return rl::mo_seq_cst;
}

#define GORO_RL_SITE_PARAMS \
  const char *goro_rl_func = __builtin_FUNCTION(), const char *goro_rl_file = __builtin_FILE(), unsigned goro_rl_line = __builtin_LINE()
#define GORO_RL_SITE rl::debug_info(goro_rl_func, goro_rl_file, goro_rl_line)

template <class T>
class atomic {
 public:
  // C++20 std::atomic: the default constructor value-initialises. The
  // constructors take no call-site parameters: a defaulted `const char*` first
  // parameter would make `Atomic<std::uint32_t> x{0}` and `Atomic<T*> p{nullptr}`
  // ambiguous with the default constructor.
  atomic() { a_.store(T{}, rl::mo_relaxed, rl::debug_info("goro_rl::atomic()", __FILE__, __LINE__)); }
  atomic(T v) { a_.store(v, rl::mo_relaxed, rl::debug_info("goro_rl::atomic(T)", __FILE__, __LINE__)); }
  // Not copyable: rl::atomic is RL_NOCOPY, so the implicit copy operations are
  // deleted ("= delete" cannot be spelled here: Relacy #defines delete).

  T load(std::memory_order m, GORO_RL_SITE_PARAMS) const { return a_.load(to_rl(m), GORO_RL_SITE); }

  void store(T v, std::memory_order m, GORO_RL_SITE_PARAMS) { a_.store(v, to_rl(m), GORO_RL_SITE); }

  T exchange(T v, std::memory_order m, GORO_RL_SITE_PARAMS) { return a_.exchange(v, to_rl(m), GORO_RL_SITE); }

  T fetch_add(T v, std::memory_order m, GORO_RL_SITE_PARAMS) { return a_.fetch_add(v, to_rl(m), GORO_RL_SITE); }

  T fetch_sub(T v, std::memory_order m, GORO_RL_SITE_PARAMS) { return a_.fetch_sub(v, to_rl(m), GORO_RL_SITE); }

  bool compare_exchange_strong(T& expected, T desired, std::memory_order success, std::memory_order failure,
                               GORO_RL_SITE_PARAMS) {
    // rl::generic_atomic's (cmp, xchg, mo, info, failure_mo, info) overload.
    return a_.compare_exchange_strong(expected, desired, to_rl(success), GORO_RL_SITE, to_rl(failure), GORO_RL_SITE);
  }

  bool compare_exchange_weak(T& expected, T desired, std::memory_order success, std::memory_order failure,
                             GORO_RL_SITE_PARAMS) {
    return a_.compare_exchange_weak(expected, desired, to_rl(success), GORO_RL_SITE, to_rl(failure), GORO_RL_SITE);
  }

  bool compare_exchange_strong(T& expected, T desired, std::memory_order m, GORO_RL_SITE_PARAMS) {
    return a_.compare_exchange_strong(expected, desired, to_rl(m), GORO_RL_SITE, to_rl(cas_failure_order(m)),
                                      GORO_RL_SITE);
  }

  bool compare_exchange_weak(T& expected, T desired, std::memory_order m, GORO_RL_SITE_PARAMS) {
    return a_.compare_exchange_weak(expected, desired, to_rl(m), GORO_RL_SITE, to_rl(cas_failure_order(m)),
                                    GORO_RL_SITE);
  }

 private:
  rl::atomic<T> a_;  // default-constructed: uninitialised until the store above
};

// A seq_cst fence (the runtime's full_fence) as a Relacy scheduling point.
inline void full_fence(GORO_RL_SITE_PARAMS) { rl::atomic_thread_fence(rl::mo_seq_cst, GORO_RL_SITE); }

#undef GORO_RL_SITE
#undef GORO_RL_SITE_PARAMS

// run_model: every model's driver. Runs rl::simulate<M> with one search
// strategy (iterations: the random scheduler's count; context_bound:
// sched_bound's preemptions per execution) after reset() (the model's path
// counters), prints "<model> model <name>: PASS|FAIL (search, iterations,
// seconds)", then report() (the counters). Returns whether it passed.
template <class M, class Reset, class Report>
bool run_model(const char* model, const char* name, rl::scheduler_type_e search, rl::iteration_t iterations,
               unsigned context_bound, Reset reset, Report report) {
  rl::test_params p;
  p.search_type = search;
  p.iteration_count = iterations;
  p.context_bound = context_bound;
  std::ostream null_stream(nullptr);  // silence the per-65536-iterations progress lines
  p.progress_stream = &null_stream;
  reset();
  auto t0 = std::chrono::steady_clock::now();
  bool ok = rl::simulate<M>(p);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s model %s: %s (%s", model, name, ok ? "PASS" : "FAIL", rl::format(search));
  if (search == rl::sched_bound) std::printf(" %u", context_bound);
  std::printf(", %llu iterations, %.2f s)\n", static_cast<unsigned long long>(p.stop_iteration), secs);
  report();
  std::fflush(stdout);
  return ok;
}

}  // namespace goro_rl

#endif  // GORO_TESTS_RELACY_RL_ATOMIC_HPP
