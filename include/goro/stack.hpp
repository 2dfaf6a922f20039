// goro/stack.hpp — goroutine stacks: reservation, guard pages, overflow report.
// (Go grows and copies stacks, stack.go; a C++ goroutine cannot move its
// stack, so goro reserves a fixed virtual size and lets the kernel commit pages
// on first touch.)
//
// Layout. Stacks are carved from arenas of stacks_per_arena slots, each one
// mmap(MAP_NORESERVE) with transparent huge pages off (a huge page would commit
// 2 MiB of a 256 KiB stack). A slot is [guard | usable stack]; the usable part
// is config::stack_size bytes, and its top holds the goroutine's g and its
// closure (newproc, sched.hpp), so a parked goroutine with a shallow stack costs one
// committed page.
//
// Guards. vm.max_map_count (65530 by default) caps mappings, and an mprotect
// guard splits a mapping in two: 1M mprotect-guarded stacks are impossible
// (ENOMEM at 32,745 here). So, in order of preference:
//   madv_guard  MADV_GUARD_INSTALL (Linux >= 6.13): a guard region costs no
//               mapping. madvise's return value is not trusted (qemu-user
//               returns 0 and installs nothing): guard_probe() checks once that
//               the guard really faults.
//   mprotect    older kernels: PROT_NONE guards while they fit in a budget of a
//               quarter of vm.max_map_count, then
//   canary      unguarded slots with a canary word at the bottom of the usable
//               stack, checked whenever the goroutine switches out (gogo;
//               not on its last switch, at exit). An overflow is then reported
//               late, but it is reported.
// $GORO_DEBUG=stackguard=fallback forces the mprotect/canary path (CI runs one
// job with it, as Debian 12's own kernel 6.1 always takes it);
// stackguard=canary forces canaries only (for the tests of that path).
//
// Release. Pools (gcache.hpp) keep a capped number of warm slots; slots beyond
// the cap are returned to the OS with MADV_DONTNEED (RSS falls; the reservation
// and a madv_guard guard stay), and reused from the cold list later.
#ifndef GORO_DETAIL_STACK_HPP
#define GORO_DETAIL_STACK_HPP

#include "config.hpp"
#include "lock.hpp"

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <sys/mman.h>
#include <vector>

#ifndef MADV_GUARD_INSTALL
#define GORO_DETAIL_MADV_GUARD_INSTALL 102  // Linux 6.13 uapi; glibc 2.36 lacks it
#else
#define GORO_DETAIL_MADV_GUARD_INSTALL MADV_GUARD_INSTALL
#endif

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// page_size is the granule of every address and size computed here (slots,
// guards, madvise ranges). AArch64 Linux kernels run with 4, 16 or 64 KiB
// pages; 64 KiB there keeps every range page-aligned on all of them (the
// kernel still commits stack memory one of its own pages at a time).
#if defined(__aarch64__)
inline constexpr std::size_t page_size = 64 * 1024;
#else
inline constexpr std::size_t page_size = 4096;
#endif
inline constexpr std::size_t stack_guard_size = 64 * 1024;  // catches frames up to 64 KiB past the end
inline constexpr std::size_t stacks_per_arena = 64;
inline constexpr std::uint64_t stack_canary_value = 0x676f726f5f737461ull;  // "goro_sta"

enum class guard_kind : std::uint8_t { madv_guard, mprotect, canary };

// guard_probe reports whether MADV_GUARD_INSTALL really makes a page fault:
// the kernel's copy from a guard page into a pipe must fail with EFAULT.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED bool guard_probe() noexcept {
  void* p = ::mmap(nullptr, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  bool ok = false;
  if (::madvise(p, page_size, GORO_DETAIL_MADV_GUARD_INSTALL) == 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      ok = ::write(fds[1], p, 1) < 0 && errno == EFAULT;
      ::close(fds[0]);
      ::close(fds[1]);
    }
  }
  ::munmap(p, 2 * page_size);
  return ok;
}
#else
GORO_DETAIL_COMPILED bool guard_probe() noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

// stack_slot: one reserved stack. lo..hi is the usable part (hi is the top);
// the guard lies just below lo (absent for canary slots).
struct stack_slot {
  char* lo = nullptr;
  char* hi = nullptr;
  guard_kind guard = guard_kind::madv_guard;
};

// stack_space: the process-wide reservations, for one usable stack size.
// Any thread. Arenas are never unmapped: released slots keep their address
// range (virtual only) and are reused first.
class stack_space {
 public:
  explicit stack_space(std::size_t usable) noexcept : usable_(round_up(usable)) {}

  std::size_t usable() const noexcept { return usable_; }

  // reserve_batch appends up to n slots to out (fewer only if the OS refuses:
  // out of address space or map count), cold ones first, and calls init on
  // each while holding the lock, so that a concurrent for_each_slot never sees
  // a slot half-initialized. Never parks; makes system calls.
  template <class Init>
  void reserve_batch(std::vector<stack_slot>& out, std::size_t n, Init&& init) {
    rt_lock_guard lk(mu_);
    while (n > 0 && !cold_.empty()) {
      init(cold_.back());
      out.push_back(cold_.back());
      cold_.pop_back();
      --n;
    }
    while (n > 0) {
      if (fresh_.empty() && !map_arena()) break;
      init(fresh_.back());
      out.push_back(fresh_.back());
      fresh_.pop_back();
      ++arenas_.back().used;  // fresh slots always come from the newest arena
      --n;
    }
  }

  // release returns a slot's committed pages to the OS and keeps the slot for
  // reuse. Any thread. By value: the caller's copy may live in the very pages
  // being dropped (a g at the top of its own stack).
  void release(stack_slot s) {
    ::madvise(s.lo, static_cast<std::size_t>(s.hi - s.lo), MADV_DONTNEED);
    rt_lock_guard lk(mu_);
    cold_.push_back(s);
  }

  // for_each_slot calls f(top) for every slot ever handed out (for dumps and
  // shutdown: the g lives at the top). The caller must tolerate slots that are
  // free. Any thread; holds the lock while calling f.
  template <class F>
  void for_each_slot(F&& f) {
    rt_lock_guard lk(mu_);
    std::size_t slot = stack_guard_size + usable_;
    for (const arena& a : arenas_)
      for (std::size_t i = 0; i < a.used; ++i) f(a.base + i * slot + slot);
  }

  static std::size_t round_up(std::size_t n) noexcept { return (n + page_size - 1) & ~(page_size - 1); }

 private:
  struct arena {
    char* base;
    std::size_t used;  // slots handed out so far (the rest are in fresh_)
  };

  // map_arena reserves one arena and fills fresh_. Requires mu_.
  bool map_arena();

  static guard_kind install_guard(char* guard_lo) noexcept;

  rt_mutex mu_;
  std::size_t usable_;
  std::vector<arena> arenas_;      // guarded by mu_
  std::vector<stack_slot> fresh_;  // guarded by mu_: never used yet
  std::vector<stack_slot> cold_;   // guarded by mu_: released to the OS, reusable
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED bool stack_space::map_arena() {
  std::size_t slot = stack_guard_size + usable_;
  std::size_t len = slot * stacks_per_arena;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  ::madvise(p, len, MADV_NOHUGEPAGE);
  char* base = static_cast<char*>(p);
  arenas_.push_back(arena{base, 0});
  // Hand out from the lowest address up, so a walk sees used slots first.
  for (std::size_t i = stacks_per_arena; i-- > 0;) {
    char* s = base + i * slot;
    stack_slot st{s + stack_guard_size, s + slot, guard_kind::madv_guard};
    st.guard = install_guard(s);  // a canary slot gets its canary when a goroutine takes it
    fresh_.push_back(st);
  }
  return true;
}
#endif  // GORO_DETAIL_DEFINE_COMPILED

// guard_policy: decided once per process.
struct guard_policy {
  bool use_madv = false;
  std::atomic<std::int64_t> mprotect_budget{0};  // mprotect guards still allowed
  static guard_policy& get() {
    static guard_policy gp = [] {
      guard_policy r;
      std::string mode = debug_setting("stackguard");
      r.use_madv = mode.empty() && guard_probe();
      std::int64_t maps = 65530;
      if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
        long long v = 0;
        if (std::fscanf(f, "%lld", &v) == 1 && v > 0) maps = v;
        std::fclose(f);
      }
      // 2 mappings per guard: half the map count at most. stackguard=canary
      // (tests) skips straight to canaries.
      r.mprotect_budget.store(mode == "canary" ? 0 : maps / 4, std::memory_order_relaxed);
      return r;
    }();
    return gp;
  }

 private:
  guard_policy() = default;
  guard_policy(guard_policy&& o) noexcept : use_madv(o.use_madv), mprotect_budget(o.mprotect_budget.load()) {}
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED guard_kind stack_space::install_guard(char* guard_lo) noexcept {
  guard_policy& gp = guard_policy::get();
  if (gp.use_madv) {
    if (::madvise(guard_lo, stack_guard_size, GORO_DETAIL_MADV_GUARD_INSTALL) == 0) return guard_kind::madv_guard;
  }
  if (gp.mprotect_budget.fetch_sub(1, std::memory_order_relaxed) > 0) {
    if (::mprotect(guard_lo, stack_guard_size, PROT_NONE) == 0) return guard_kind::mprotect;
  }
  return guard_kind::canary;
}

// stack_guard_name is for diagnostics and the README's claim.
GORO_DETAIL_COMPILED const char* stack_guard_name() {
  guard_policy& gp = guard_policy::get();
  if (gp.use_madv) return "MADV_GUARD_INSTALL";
  return gp.mprotect_budget.load(std::memory_order_relaxed) > 0 ? "mprotect+canary fallback" : "canary";
}
#else
GORO_DETAIL_COMPILED const char* stack_guard_name();
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// Overflow report. A SIGSEGV handler on a per-M sigaltstack asks the scheduler
// (through overflow_hook, set by run.hpp) whether the fault address lies in
// the current goroutine's guard; if so it prints the stack-overflow report
// (docs/reference.md, "Runtime") and aborts, otherwise it restores the
// previous disposition and returns, so the fault repeats and ends the process
// as it would have without goro.

// overflow_hook: returns true (after printing) when addr is in the running
// goroutine's guard. Async-signal-safe.
inline std::atomic<bool (*)(void* addr) noexcept> overflow_hook{nullptr};

struct sigsegv_chain {
  struct sigaction old_segv;
  struct sigaction old_bus;
};
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED sigsegv_chain& sigsegv_old() {
  static sigsegv_chain c;
  return c;
}

GORO_DETAIL_COMPILED void sigsegv_handler(int sig, siginfo_t* info, void* uctx) {
  auto hook = overflow_hook.load(std::memory_order_acquire);
  if (hook != nullptr && hook(info->si_addr)) std::abort();
  // Not ours: hand the signal to whoever had it before (or the default).
  struct sigaction& old = sig == SIGBUS ? sigsegv_old().old_bus : sigsegv_old().old_segv;
  if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction != nullptr) {
    old.sa_sigaction(sig, info, uctx);
    return;
  }
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
    old.sa_handler(sig);
    return;
  }
  ::sigaction(sig, &old, nullptr);  // re-fault with the default action
}

// install_overflow_handler: once per process (idempotent).
GORO_DETAIL_COMPILED void install_overflow_handler() {
  static const bool done = [] {
    struct sigaction sa {};
    sa.sa_sigaction = &sigsegv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &sigsegv_old().old_segv);
    ::sigaction(SIGBUS, &sa, &sigsegv_old().old_bus);
    return true;
  }();
  (void)done;
}
#else
GORO_DETAIL_COMPILED void install_overflow_handler();
#endif  // GORO_DETAIL_DEFINE_COMPILED

// alt_stack: the calling thread's signal stack, for the overflow handler
// (which cannot run on the overflowed stack). Each M installs one.
class alt_stack {
 public:
  alt_stack() noexcept {
    mem_ = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem_ == MAP_FAILED) {
      mem_ = nullptr;
      return;
    }
    stack_t ss{};
    ss.ss_sp = mem_;
    ss.ss_size = size;
    ::sigaltstack(&ss, &old_);
  }
  ~alt_stack() {
    if (mem_ == nullptr) return;
    ::sigaltstack(&old_, nullptr);
    ::munmap(mem_, size);
  }
  alt_stack(const alt_stack&) = delete;
  alt_stack& operator=(const alt_stack&) = delete;

 private:
  static constexpr std::size_t size = 64 * 1024;
  void* mem_ = nullptr;
  stack_t old_{};
};

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_STACK_HPP
