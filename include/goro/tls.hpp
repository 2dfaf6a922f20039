// goro/tls.hpp — who is running here: the calling thread's M (getm), the
// running goroutine (getg) or the pseudo-g of a plain OS thread, and the
// per-thread state a goroutine must re-read after every switch (errno, the C++
// exception globals). Go: getg() and the m/g TLS slots of runtime/stubs.go.
//
// Also the two pieces of "is a plain thread inside goro?" accounting that
// checkdead reads (plain_threads_in_goro, plain_call_scope), and the TSan
// region helpers of deterministic mode (rt_region, san_edge).
//
// Invariant: code running on a goroutine never keeps a thread_local's address
// across a call that may switch (the goroutine may resume on another M); the
// accessors below are noinline with a compiler barrier so that each call reads
// the current thread's value.
#ifndef GORO_DETAIL_TLS_HPP
#define GORO_DETAIL_TLS_HPP

#include "config.hpp"
#include "runtime2.hpp"
#include "sanitizer.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cxxabi.h>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// ---------------------------------------------------------------------------
// TLS. A goroutine may resume on another M, so code running on a goroutine
// must never cache the address of a thread_local across a call that can
// switch. These accessors are noinline and contain a compiler barrier, so each
// call reads the current thread's value (docs/design.md, "TLS caching").

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

// plain_threads_in_goro counts plain OS threads inside a goro call that may
// park or ready (process-wide): while any is, checkdead cannot call a deadlock
// (such a thread may ready a goroutine at any moment).
inline std::atomic<std::int64_t> plain_threads_in_goro{0};

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

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TLS_HPP
