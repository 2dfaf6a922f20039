// goro/sanitizer.hpp — everything that differs under ASan, TSan and Relacy.
//
// ASan: each goroutine stack is announced on every switch
// (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber), so that
// ASan knows which stack is live and `throw` on a goroutine stack works.
// TSan: each goroutine is a TSan fiber (__tsan_create_fiber); the switch calls
// __tsan_switch_to_fiber right before the register swap. In threaded mode the
// switch carries synchronization (flags 0): two goroutines that share an M are
// ordered by it, as the M's own code is; races between Ms are reported as usual.
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
};

// Called on the departing side right before the register swap. exiting: the
// departing context never runs again (ASan may release its fake stack).
inline void san_before_switch([[maybe_unused]] san_fiber& from, [[maybe_unused]] san_fiber& to,
                              [[maybe_unused]] bool exiting) noexcept {
#if GORO_ASAN
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from.asan_fake, to.stack_lo, to.stack_size);
#endif
#if GORO_TSAN
  __tsan_switch_to_fiber(to.tsan, 0);
#endif
}

// Called on the arriving side right after the swap (and at a new goroutine's
// entry, with first = true).
inline void san_after_switch([[maybe_unused]] san_fiber& self, [[maybe_unused]] bool first) noexcept {
#if GORO_ASAN
  __sanitizer_finish_switch_fiber(first ? nullptr : self.asan_fake, nullptr, nullptr);
#endif
}

inline void san_fiber_create([[maybe_unused]] san_fiber& f, [[maybe_unused]] void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  f.asan_fake = nullptr;
  f.stack_lo = lo;
  f.stack_size = size;
#endif
#if GORO_TSAN
  f.tsan = __tsan_create_fiber(0);
#endif
}

inline void san_fiber_destroy([[maybe_unused]] san_fiber& f) noexcept {
#if GORO_TSAN
  if (f.tsan != nullptr) __tsan_destroy_fiber(f.tsan);
  f.tsan = nullptr;
#endif
}

// san_thread_fiber describes an M's own thread stack (g0) to the sanitizers.
inline void san_thread_fiber([[maybe_unused]] san_fiber& f, [[maybe_unused]] void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  f.stack_lo = lo;
  f.stack_size = size;
#endif
#if GORO_TSAN
  f.tsan = __tsan_get_current_fiber();
#endif
}

// A stack that goes back to the pool: clear ASan's poison left by frames that
// never returned (an unwound or exited goroutine leaves none, but a reused
// stack must start clean).
inline void san_stack_reuse([[maybe_unused]] void* lo, [[maybe_unused]] std::size_t size) noexcept {
#if GORO_ASAN
  __asan_unpoison_memory_region(lo, size);
#endif
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SANITIZER_HPP
