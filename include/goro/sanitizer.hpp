// goro/sanitizer.hpp — everything that differs under ASan and TSan.
//
// ASan: each goroutine stack is announced on every switch
// (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber), so that
// ASan knows which stack is live and `throw` on a goroutine stack works.
// TSan: each goroutine is a TSan fiber (__tsan_create_fiber); the switch calls
// __tsan_switch_to_fiber right before the register swap. In threaded mode the
// switch carries synchronization (flags 0): two goroutines that share an M are
// ordered by it, as the M's own code is; races between Ms are reported as usual.
// In deterministic mode one thread runs every goroutine, so the switch carries
// no synchronization (flags __tsan_switch_to_fiber_no_sync) and TSan sees the
// goroutines as concurrent; see "Deterministic mode under TSan" below.
// Fences: TSan does not model std::atomic_thread_fence, so full_fence() uses a
// seq_cst RMW on a private word there (as crossbeam does); the RMW gives the
// same ordering for the Dekker-style protocols that use it.
#ifndef GORO_DETAIL_SANITIZER_HPP
#define GORO_DETAIL_SANITIZER_HPP

#include "config.hpp"

#include <atomic>

#if GORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if GORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if GORO_TSAN && GORO_DETERMINISTIC
#include <pthread.h>
#endif

// Deterministic mode under TSan.
//
// Goroutines are fibers switched without synchronization, so TSan orders two
// goroutines only through the edges goro declares: __tsan_release/acquire at
// the sync operations where Go's memory model has an edge (race_release /
// race_acquire in park.hpp), fiber creation (go), and every goroutine's end
// before run() returns. The runtime's own memory and atomics must take no part:
// they would report false races (run queues, channel buffers and indices
// written by whichever goroutine runs the operation) and hide real ones (a
// lock's release in one goroutine, acquire in another). So runtime code runs
// inside an ignore region (rt_region, tls.hpp): reads, writes and sync
// ignored. The region's state is per fiber in TSan and must not span a switch
// (docs/design.md, "Toolchain notes"): san_before_switch ends the departing fiber's region
// and san_after_switch begins it again when that fiber resumes; the depth is
// kept in san_fiber::ignore. race_release/acquire step out of the region for
// the one annotation (an ignored region would drop it).
#if GORO_TSAN && GORO_DETERMINISTIC
#define GORO_DETAIL_TSAN_DET 1
extern "C" {
void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
void AnnotateIgnoreSyncBegin(const char* file, int line);
void AnnotateIgnoreSyncEnd(const char* file, int line);
void AnnotateNewMemory(const char* file, int line, const volatile void* mem, unsigned long size);
}
#else
#define GORO_DETAIL_TSAN_DET 0
#endif

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// full_fence is a sequentially consistent fence: the #StoreLoad of Go's
// spinning-M protocol and of the shutdown counter. See sanitizer.hpp's header.
// On x86-64 a locked RMW on the stack is a full barrier and cheaper than
// mfence (Linux's smp_mb does the same). On AArch64 it is `dmb ish`, a full
// barrier over the inner-shareable domain (all cores), which is what Linux's
// smp_mb and a seq_cst std::atomic_thread_fence emit there.
inline void full_fence() noexcept {
#if GORO_TSAN
  static std::atomic<int> word{0};
  word.fetch_add(0, std::memory_order_seq_cst);
#elif defined(__x86_64__)
  asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc");
#elif defined(__aarch64__)
  asm volatile("dmb ish" ::: "memory");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// san_release / san_acquire: a happens-before edge TSan cannot see (one
// passed through the kernel, such as an epoll registration). No-ops otherwise.
inline void san_release([[maybe_unused]] void* addr) noexcept {
#if GORO_TSAN
  __tsan_release(addr);
#endif
}
inline void san_acquire([[maybe_unused]] void* addr) noexcept {
#if GORO_TSAN
  __tsan_acquire(addr);
#endif
}

// san_fiber holds a goroutine's sanitizer state; empty without sanitizers.
struct san_fiber {
#if GORO_ASAN
  void* asan_fake = nullptr;     // ASan's fake stack of this context while it is switched out
  const void* stack_lo = nullptr;  // the stack's bounds as ASan wants them
  std::size_t stack_size = 0;
#endif
#if GORO_TSAN
  void* tsan = nullptr;          // the TSan fiber, or the M's own thread fiber for g0
#endif
#if GORO_DETAIL_TSAN_DET
  unsigned ignore = 0;           // rt_region depth of this fiber (see "Deterministic mode under TSan");
                                 // relaxed atomic builtins: read around switches, outside the region
#endif
};

#if GORO_DETAIL_TSAN_DET
// tls_san: the fiber running on this thread (set by san_after_switch and
// san_thread_fiber). Relaxed atomic builtins: every fiber reads it.
inline thread_local san_fiber* tls_san = nullptr;
inline san_fiber* san_current() noexcept { return __atomic_load_n(&tls_san, __ATOMIC_RELAXED); }

inline void san_ignore_begin() noexcept {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
}
inline void san_ignore_end() noexcept {
  AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
}
#endif

// Called on the departing side right before the register swap. exiting: the
// departing context never runs again (ASan may release its fake stack).
inline void san_before_switch([[maybe_unused]] san_fiber& from, [[maybe_unused]] san_fiber& to,
                              [[maybe_unused]] bool exiting) noexcept {
#if GORO_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from.asan_fake, to.stack_lo, to.stack_size);
#endif
#if GORO_DETAIL_TSAN_DET
  void* target = __atomic_load_n(&to.tsan, __ATOMIC_RELAXED);  // read inside the region: memory may be reused later
  if (__atomic_load_n(&from.ignore, __ATOMIC_RELAXED) != 0) san_ignore_end();
  __tsan_switch_to_fiber(target, __tsan_switch_to_fiber_no_sync);
#elif GORO_TSAN
  __tsan_switch_to_fiber(to.tsan, 0);
#endif
}

// Called on the arriving side right after the swap (and at a new goroutine's
// entry, with first = true).
inline void san_after_switch([[maybe_unused]] san_fiber& self, [[maybe_unused]] bool first) noexcept {
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(first ? nullptr : self.asan_fake, nullptr, nullptr);
#endif
#if GORO_DETAIL_TSAN_DET
  __atomic_store_n(&tls_san, &self, __ATOMIC_RELAXED);
  if (__atomic_load_n(&self.ignore, __ATOMIC_RELAXED) != 0) san_ignore_begin();
#endif
}

inline void san_fiber_create([[maybe_unused]] san_fiber& f, [[maybe_unused]] void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  f.asan_fake = nullptr;
  f.stack_lo = lo;
  f.stack_size = size;
#endif
#if GORO_TSAN
  __atomic_store_n(&f.tsan, __tsan_create_fiber(0), __ATOMIC_RELAXED);  // atomics: see san_before_switch
#endif
}

inline void san_fiber_destroy([[maybe_unused]] san_fiber& f) noexcept {
#if GORO_TSAN
  if (f.tsan != nullptr) __tsan_destroy_fiber(f.tsan);
  __atomic_store_n(&f.tsan, nullptr, __ATOMIC_RELAXED);
#endif
}

// san_det_process_setup, once per process before the first deterministic run
// under TSan: glibc marks a process that never created a thread
// single-threaded (__libc_single_threaded), and libstdc++ then counts
// shared_ptr references and reference-counted strings with plain increments.
// Goroutines that share one OS thread are concurrent for TSan, so two of them
// dropping copies of one shared_ptr would be reported as a race that threaded
// mode (atomic counts) never has. One thread created and joined clears the
// flag for good, and the counts are atomic from then on.
inline void san_det_process_setup() noexcept {
#if GORO_DETAIL_TSAN_DET
  static const bool done = [] {
    pthread_t t;
    if (pthread_create(&t, nullptr, [](void*) -> void* { return nullptr; }, nullptr) == 0) pthread_join(t, nullptr);
    return true;
  }();
  (void)done;
#endif
}

// san_thread_fiber describes an M's own thread stack (g0) to the sanitizers.
inline void san_thread_fiber([[maybe_unused]] san_fiber& f, [[maybe_unused]] void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  f.stack_lo = lo;
  f.stack_size = size;
#endif
#if GORO_TSAN
  __atomic_store_n(&f.tsan, __tsan_get_current_fiber(), __ATOMIC_RELAXED);
#endif
#if GORO_DETAIL_TSAN_DET
  __atomic_store_n(&tls_san, &f, __ATOMIC_RELAXED);
#endif
}

// A stack that goes back to the pool: clear ASan's poison left by frames that
// never returned (an unwound or exited goroutine leaves none, but a reused
// stack must start clean).
inline void san_stack_reuse([[maybe_unused]] void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  __asan_unpoison_memory_region(lo, size);
#endif
#if GORO_DETAIL_TSAN_DET
  // The previous goroutine's accesses to this stack are not ordered before
  // the next one's (switches carry no sync here): forget them.
  AnnotateNewMemory(__FILE__, __LINE__, lo, size);
#endif
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SANITIZER_HPP
