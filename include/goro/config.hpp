// goro/config.hpp — version, compile-time switches, sanitizer detection, and the
// few helpers every other part needs (creation sites, fatal errors, $GORO_DEBUG).
//
// Switches (each has an #ifndef default here; "agree" says whether every
// translation unit of one executable must use the same value):
//
//   macro                    default   agree  meaning
//   GORO_DETERMINISTIC       0         yes    seeded single-threaded scheduler (det.hpp)
//   GORO_TSAN                detected  yes    ThreadSanitizer fiber annotations
//   GORO_ASAN                detected  yes    AddressSanitizer fiber annotations
//   GORO_RUNQ_SIZE           256       yes    slots in each P's local run queue (Go: 256)
//   GORO_DETAIL_DCHECKS      0         yes    1: the runtime checks its invariants (GORO_DETAIL_DCHECK below);
//                                             on in the asan and tsan test presets
//   GORO_SPLIT               unset     yes    split compilation: goro's compiled part is left out of
//                                             this TU (see "Split compilation" below)
//   GORO_IMPLEMENTATION      unset     no     split compilation: this TU (exactly one) holds it
//
// Mixed settings of the "yes" switches are caught at start-up (see
// "One mode per executable" below); GORO_DETERMINISTIC also selects a distinct
// inline namespace, so mixed TUs get distinct symbols rather than an ODR violation.
//
// Environment: $GORO_MAXPROCS (procs when config::procs is 0) and $GORO_DEBUG, a
// comma-separated list of key=value settings like Go's $GODEBUG:
//   stackguard=fallback   use the fallback stack guards even where MADV_GUARD_INSTALL works
//   stackguard=canary     use canary-checked stacks only (tests of that path)
//   schedtrace=MS         print Go's SCHED line to stderr every MS milliseconds
//   sigquit=1             on SIGQUIT, print a goroutine dump to stderr (and go on)
//   trace=PATH            write each run()'s execution trace to PATH (trace.hpp)
//   tracebuf=N            the trace keeps at most N events (default 262144)
//   stalls=MS             report a goroutine that runs MS milliseconds without a scheduling point (stall.hpp)
//   tracebacks=1          dumps say where each parked goroutine is blocked and where each held mutex was
//                         locked (stacks captured at park and lock; traceback.hpp)
#ifndef GORO_DETAIL_CONFIG_HPP
#define GORO_DETAIL_CONFIG_HPP

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>

#define GORO_VERSION_MAJOR 0
#define GORO_VERSION_MINOR 1
#define GORO_VERSION_PATCH 0

#ifndef GORO_DETERMINISTIC
#define GORO_DETERMINISTIC 0
#endif

#ifndef GORO_TSAN
#if defined(__SANITIZE_THREAD__)
#define GORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORO_TSAN 1
#endif
#endif
#endif
#ifndef GORO_TSAN
#define GORO_TSAN 0
#endif

#ifndef GORO_ASAN
#if defined(__SANITIZE_ADDRESS__)
#define GORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#endif
#endif
#ifndef GORO_ASAN
#define GORO_ASAN 0
#endif


#ifndef GORO_RUNQ_SIZE
#define GORO_RUNQ_SIZE 256
#endif

#if !defined(__linux__)
#error "goro: only Linux is supported (futex, epoll, mmap guard pages)"
#endif
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "goro: supported architectures are x86-64 and AArch64"
#endif

#define GORO_DETAIL_NOINLINE __attribute__((noinline))
// GORO_DETAIL_ALWAYS_INLINE: for the few switch-path helpers whose inlining
// GCC's size heuristics give up as the cold paths around them grow.
#define GORO_DETAIL_ALWAYS_INLINE __attribute__((always_inline))
// Split compilation (docs/reference.md, "Compile time").
//
// By default every TU compiles all of goro: the header is all there is. A
// program with many TUs may instead define GORO_SPLIT in every TU and
// GORO_IMPLEMENTATION (which implies GORO_SPLIT) in exactly one. The cold,
// non-template functions (the scheduler's slow paths, sysmon, dumps, the trace
// writer, the symbolizer, the deterministic scheduler's run loop) are then
// declared everywhere but defined only in that TU, as ordinary external
// functions. Templates and the hot paths (park, ready, the channel and mutex
// fast paths) stay inline in every TU, so both ways run the same code at the
// same speed.
//
// In the headers: a function of the compiled part is declared with
// GORO_DETAIL_COMPILED (`inline` by default, nothing when split) and defined
// the same way inside `#if GORO_DETAIL_DEFINE_COMPILED` (1 by default and in
// the implementation TU, 0 in the other split TUs).
#if defined(GORO_IMPLEMENTATION)
#ifndef GORO_SPLIT
#define GORO_SPLIT 1
#endif
#define GORO_DETAIL_DEFINE_COMPILED 1
#define GORO_DETAIL_COMPILED
#elif defined(GORO_SPLIT)
#define GORO_DETAIL_DEFINE_COMPILED 0
#define GORO_DETAIL_COMPILED
#else
#define GORO_DETAIL_DEFINE_COMPILED 1
#define GORO_DETAIL_COMPILED inline
#endif
#define GORO_DETAIL_LIKELY(x) __builtin_expect(!!(x), 1)
#define GORO_DETAIL_UNLIKELY(x) __builtin_expect(!!(x), 0)

// GORO_DETAIL_DCHECK(cond, what): an invariant of the runtime, written where
// it lives (Go's throw("bad g->status in ready"), assertLockHeld). With
// GORO_DETAIL_DCHECKS=1 a false cond is a fatal error naming the invariant
// and its place; otherwise the check is not compiled at all (cond is not
// evaluated), so it costs nothing in release builds.
#ifndef GORO_DETAIL_DCHECKS
#define GORO_DETAIL_DCHECKS 0
#endif
#if GORO_DETAIL_DCHECKS
#define GORO_DETAIL_DCHECK(cond, what) \
  (GORO_DETAIL_LIKELY(cond) ? (void)0 : ::goro::detail::dcheck_failed(what, __FILE__, __LINE__))
#else
#define GORO_DETAIL_DCHECK(cond, what) ((void)0)
#endif

#if GORO_DETERMINISTIC
#define GORO_DETAIL_ABI_NS det_v0
#else
#define GORO_DETAIL_ABI_NS thr_v0
#endif

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

// ---------------------------------------------------------------------------
// Errors (docs/reference.md, "Errors").

// goroutine_exit unwinds goroutines still alive when main returns. It is not a
// std::exception on purpose: `catch (const std::exception&)` lets it pass, and a
// `catch (...)` must rethrow it.
struct goroutine_exit {};

struct deadlock_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Deterministic mode's failures (docs/reference.md, "Deterministic mode"): a data race on
// a sim::shared, an exception escaping a goroutine (or a fatal error such as
// unlocking an unlocked mutex), a run over max_steps scheduling steps, and
// (fail_on_leak) goroutines still blocked for good once main has returned.
struct race_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct panic_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct livelock_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct leak_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

// deterministic: the mode of this translation unit, as a constant. The
// scheduler's hook points test it with `if constexpr` (det_hooks.hpp), so that
// both modes type-check both schedulers; the preprocessor branches on
// GORO_DETERMINISTIC only where a declaration differs (the inline namespace
// above, goro::clock's definition).
inline constexpr bool deterministic = GORO_DETERMINISTIC != 0;

// always_false: a static_assert condition that depends on a template
// parameter, so that it fires only when that template is instantiated.
template <class>
inline constexpr bool always_false = false;

// source_loc is a creation site. clang 14 with libstdc++ 12 has no
// std::source_location, so the builtins (which both compilers evaluate at the
// call site when used as default arguments) capture it.
struct source_loc {
  const char* file = "?";
  unsigned line = 0;
  static constexpr source_loc here(const char* f = __builtin_FILE(), unsigned l = __builtin_LINE()) noexcept {
    source_loc s;
    s.file = f;
    s.line = l;
    return s;
  }
};

// write_err writes a message to fd 2 with write(2) only: usable from signal
// handlers and from a runtime in any state. Never allocates.
inline void write_err(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}
inline void write_err(const char* s) noexcept { write_err(s, std::strlen(s)); }

// fmt_u64 formats v in decimal into buf (>= 21 bytes) and returns the start.
// Async-signal-safe.
inline char* fmt_u64(char* buf, std::uint64_t v) noexcept {
  char* p = buf + 20;
  *p = 0;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return p;
}

// fatal prints "fatal error: <msg>" as Go's runtime.throw does and aborts. It is
// for broken runtime invariants and for the misuses docs/reference.md calls
// fatal errors (unlocking an unlocked mutex, a negative wait_group counter).
[[noreturn]] inline void fatal(const char* msg) noexcept {
  write_err("fatal error: ");
  write_err(msg);
  write_err("\n");
  std::abort();
}

// dcheck_failed: a GORO_DETAIL_DCHECK that did not hold.
[[noreturn]] inline void dcheck_failed(const char* what, const char* file, unsigned line) noexcept {
  char buf[24];
  write_err("fatal error: runtime invariant violated: ");
  write_err(what);
  write_err(" (");
  write_err(file);
  write_err(":");
  write_err(fmt_u64(buf, line));
  write_err(")\n");
  std::abort();
}

#if GORO_DETAIL_DEFINE_COMPILED
// debug_setting returns the value of key in $GORO_DEBUG ("a=1,b=x"), or "" when
// it is absent. Read at runtime start-up, never on a hot path.
GORO_DETAIL_COMPILED std::string debug_setting(std::string_view key) {
  const char* env = std::getenv("GORO_DEBUG");
  if (env == nullptr) return {};
  std::string_view s(env);
  while (!s.empty()) {
    std::size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    std::size_t eq = item.find('=');
    if (item.substr(0, eq) == key) return eq == std::string_view::npos ? std::string("1") : std::string(item.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return {};
}
#else
GORO_DETAIL_COMPILED std::string debug_setting(std::string_view key);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// One mode per executable.
//
// Every TU that includes goro registers its mode bits in a registry shared by
// all modes (it lives outside the inline namespace, see below); the first TU
// that disagrees aborts the program at static-initialization time with both
// modes named. The bits: 1 deterministic, 2 TSan, 4 ASan, 8 invariant checks
// (GORO_DETAIL_DCHECKS changes rt_mutex's layout).
inline constexpr unsigned tu_mode =
    (GORO_DETERMINISTIC ? 1u : 0u) | (GORO_TSAN ? 2u : 0u) | (GORO_ASAN ? 4u : 0u) | (GORO_DETAIL_DCHECKS ? 8u : 0u);

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

// Shared by every mode, so deliberately outside the inline namespace.
namespace goro::detail_common {
inline void mode_name(unsigned bits, char* out) noexcept {
  std::strcpy(out, (bits & 1u) ? "deterministic" : "threaded");
  if (bits & 2u) std::strcat(out, "+tsan");
  if (bits & 4u) std::strcat(out, "+asan");
  if (bits & 8u) std::strcat(out, "+dchecks");
}
inline bool register_mode(unsigned bits) noexcept {
  static unsigned first = bits;  // the first TU to initialize fixes the mode
  if (first != bits) {
    char a[40], b[40];
    mode_name(first, a);
    mode_name(bits, b);
    goro::detail::write_err("goro: translation units built in different modes in one executable: ");
    goro::detail::write_err(a);
    goro::detail::write_err(" and ");
    goro::detail::write_err(b);
    goro::detail::write_err(" (build every TU with the same GORO_DETERMINISTIC and sanitizer flags)\n");
    std::abort();
  }
  return true;
}
}  // namespace goro::detail_common

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {
// A split program with no implementation TU fails to link, and the missing
// symbol names the cause.
GORO_DETAIL_COMPILED bool split_needs_one_TU_defining_GORO_IMPLEMENTATION() noexcept;
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED bool split_needs_one_TU_defining_GORO_IMPLEMENTATION() noexcept { return true; }
#endif
namespace {
// One registration per translation unit.
[[maybe_unused]] const bool tu_mode_registered =
    goro::detail_common::register_mode(tu_mode) && (!GORO_DETAIL_DEFINE_COMPILED ? split_needs_one_TU_defining_GORO_IMPLEMENTATION() : true);
}  // namespace
}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_CONFIG_HPP
