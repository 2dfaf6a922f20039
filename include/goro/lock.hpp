// goro/lock.hpp — runtime locks and one-shot notifications on Linux futexes.
// Follows Go's lock_futex.go.
//
// rt_mutex guards the runtime's own short critical sections (the global run
// queue, idle lists, semaphore buckets, channels). It never parks a goroutine:
// a holder keeps its M; waiters spin briefly, then sleep on the futex. Hold it
// for a few instructions only and never across a context switch (the one
// exception, handing a held lock to the next goroutine to release after the
// switch, is the park protocol in park.hpp).
//
// note is Go's note: one sleeper, one waker, sticky until clear()ed. Ms sleep on
// their own note when idle; plain OS threads park on one when they block on a
// goro object.
#ifndef GORO_DETAIL_LOCK_HPP
#define GORO_DETAIL_LOCK_HPP

#include "config.hpp"
#include "sanitizer.hpp"

#include <atomic>
#include <chrono>
#include <climits>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// futex_wait sleeps while *addr == val, for at most timeout_ns (< 0: forever).
// Spurious wake-ups happen; callers loop.
inline void futex_wait(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t timeout_ns = -1) noexcept {
  timespec ts;
  timespec* tp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    tp = &ts;
  }
  int saved = errno;
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, tp, nullptr, 0);
  errno = saved;
}

inline void futex_wake(std::atomic<std::uint32_t>* addr, int n) noexcept {
  int saved = errno;
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
  errno = saved;
}

// mono_ns is the OS's monotonic clock in nanoseconds (vDSO, ~20 ns).
inline std::int64_t mono_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// det_clock: the virtual clock of the deterministic run on this thread
// (det.hpp), or nullptr outside a run. Always nullptr in threaded mode.
inline thread_local const std::int64_t* det_clock = nullptr;

// nanotime is the runtime's clock (timers, deadlines, goro::now): mono_ns, or
// the virtual clock inside a deterministic run.
inline std::int64_t nanotime() noexcept {
  if constexpr (deterministic) {
    if (det_clock != nullptr) return *det_clock;
  }
  return mono_ns();
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// ---------------------------------------------------------------------------
// Asymmetric fences. Two shutdown-only protocols (run.hpp, "Unwinding at
// shutdown") are Dekker pairs whose one side runs on every park or exit and
// whose other side runs once per shutdown. membarrier(PRIVATE_EXPEDITED) makes
// every thread of the process execute a full barrier, so the hot side needs
// only a compiler barrier (light_fence) and the rare side pays a system call
// (heavy_fence). Where membarrier is unavailable both sides use full_fence.

inline std::atomic<bool>& membarrier_ok() noexcept {
  static std::atomic<bool> ok{[] {
    constexpr int cmd_private_expedited = 1 << 3;           // MEMBARRIER_CMD_PRIVATE_EXPEDITED
    constexpr int cmd_register_private_expedited = 1 << 4;  // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
    long supported = ::syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0);
    if (supported < 0 || !(supported & cmd_private_expedited)) return false;
    return ::syscall(SYS_membarrier, cmd_register_private_expedited, 0) == 0;
  }()};
  return ok;
}

inline void light_fence() noexcept {
  if (GORO_DETAIL_LIKELY(membarrier_ok().load(std::memory_order_relaxed))) asm volatile("" ::: "memory");
  else full_fence();
}

inline void heavy_fence() noexcept {
  full_fence();
  if (membarrier_ok().load(std::memory_order_relaxed)) ::syscall(SYS_membarrier, 1 << 3 /* PRIVATE_EXPEDITED */, 0);
}

// rt_mutex: 0 unlocked, 1 locked, 2 locked with sleepers (Drepper, "Futexes
// Are Tricky", mutex 2). Any M or plain thread. Never parks a goroutine.
class rt_mutex {
 public:
  void lock() noexcept {
    std::uint32_t c = 0;
    if (GORO_DETAIL_LIKELY(state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed))) {
      set_owner();
      return;
    }
    lock_slow(c);
    set_owner();
  }
  bool try_lock() noexcept {
    std::uint32_t c = 0;
    bool ok = state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed);
    if (ok) set_owner();
    return ok;
  }
  GORO_DETAIL_ALWAYS_INLINE void unlock() noexcept {
#if GORO_DETAIL_DCHECKS
    GORO_DETAIL_DCHECK(held(), "rt_mutex unlocked by a thread that does not hold it");
    owner_.store(nullptr, std::memory_order_relaxed);
#endif
    // release: publishes the critical section to the next acquirer.
    if (GORO_DETAIL_UNLIKELY(state_.exchange(0, std::memory_order_release) == 2)) futex_wake(&state_, 1);
  }

#if GORO_DETAIL_DCHECKS
  // held: this thread holds the lock (Go: assertLockHeld). Only with
  // GORO_DETAIL_DCHECKS, for the checks of the *_locked functions. An
  // rt_mutex section never spans a goroutine switch to another thread: the
  // park protocol's unlock runs on the parking M's thread (park.hpp), so a
  // thread identifies the holder. owner_ is written by the holder only
  // (relaxed: only the holder's own reads of it matter).
  bool held() const noexcept { return owner_.load(std::memory_order_relaxed) == thread_token(); }
#endif

 private:
  GORO_DETAIL_NOINLINE void lock_slow(std::uint32_t c) noexcept {
    // Go's lock2: spin a little (active_spin = 4 rounds of 30 pauses), then sleep.
    for (int i = 0; i < 4; ++i) {
      for (int k = 0; k < 30; ++k) cpu_relax();
      c = 0;
      if (state_.compare_exchange_weak(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    }
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      futex_wait(&state_, 2);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }
  void set_owner() noexcept {
#if GORO_DETAIL_DCHECKS
    owner_.store(thread_token(), std::memory_order_relaxed);
#endif
  }
#if GORO_DETAIL_DCHECKS
  // thread_token: this thread's identity. noinline with a compiler barrier,
  // like tls.hpp's accessors: a goroutine resumes on other threads, and a
  // thread_local's address computed before a switch must not be reused after.
  GORO_DETAIL_NOINLINE static const void* thread_token() noexcept {
    asm volatile("" ::: "memory");
    static thread_local char token;
    return &token;
  }
  std::atomic<const void*> owner_{nullptr};
#endif
  std::atomic<std::uint32_t> state_{0};
};

// lock_guard for rt_mutex without <mutex>'s ceremony.
class rt_lock_guard {
 public:
  explicit rt_lock_guard(rt_mutex& m) noexcept : m_(m) { m_.lock(); }
  ~rt_lock_guard() { m_.unlock(); }
  rt_lock_guard(const rt_lock_guard&) = delete;
  rt_lock_guard& operator=(const rt_lock_guard&) = delete;

 private:
  rt_mutex& m_;
};

// note: Go's note. wakeup() may come before or after sleep(); clear() rearms.
// One sleeper at a time; any number of wakers.
class note {
 public:
  void clear() noexcept { key_.store(0, std::memory_order_relaxed); }
  void wakeup() noexcept {
    // release: the sleeper's acquire below sees everything before wakeup().
    if (key_.exchange(1, std::memory_order_release) == 0) futex_wake(&key_, 1);
  }
  void sleep() noexcept {
    while (key_.load(std::memory_order_acquire) == 0) futex_wait(&key_, 0);
  }
  // sleep_for returns true if woken, false on timeout.
  bool sleep_for(std::int64_t ns) noexcept {
    std::int64_t deadline = mono_ns() + ns;
    while (key_.load(std::memory_order_acquire) == 0) {
      std::int64_t left = deadline - mono_ns();
      if (left <= 0) return key_.load(std::memory_order_acquire) != 0;
      futex_wait(&key_, 0, left);
    }
    return true;
  }
  bool woken() const noexcept { return key_.load(std::memory_order_acquire) != 0; }

 private:
  std::atomic<std::uint32_t> key_{0};
};

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_LOCK_HPP
