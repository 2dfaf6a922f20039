// goro/netpoll.hpp — the netpoller: goroutines blocked on file descriptors
// park in the runtime, not in the kernel (Go: runtime/netpoll.go and
// netpoll_epoll.go), and goro::io, its public face.
//
// ---------------------------------------------------------------------------
// Poll descriptors (Go: pollDesc).
//
// Every fd that a goroutine waits on has a poll_desc: three waiter lists
// (read, write, and "sleep", used by accept's EMFILE back-off: woken only by
// its timer or by close), a sticky "ready" flag per direction, a deadline per
// direction, a closing flag. poll_descs come from a process-wide registry
// (fd -> poll_desc) and are never freed: io::close returns them to a free list
// for reuse. So a stale pointer (an epoll event in flight, a timer, the
// unwinder's cancel) always points at a poll_desc, and a 16-bit sequence number
// in the epoll event's data, bumped at every close and re-registration, tells
// a stale event from a live one (Go's fdseq in its tagged pointers).
//
// Edge-triggered epoll: the fd is added once (EPOLLIN | EPOLLOUT | EPOLLRDHUP
// | EPOLLET) to the epoll of the runtime whose goroutine first waits on it. An
// event wakes every goroutine waiting in that direction (they retry their
// system call and wait again on EAGAIN); with nobody waiting it sets the
// direction's ready flag, which the next waiter consumes instead of parking
// (Go: pdReady), so no edge is lost between a failed read and the wait.
//
// Wait records (pd_waiter) live on the waiters' stacks, linked into the list
// while queued. Whoever unlinks a record, under the poll_desc's lock, owns the
// wake-up: an event (poll), the record's deadline timer, a deadline moved into
// the past (set_deadline), close (evict), or the shutdown unwinder (cancel).
// netpoll_waiters counts goroutine records queued: incremented at enqueue,
// decremented by whoever unlinks.
//
// Deadlines. A wait's deadline is the earlier of the call's (io::wait_*) and
// its direction's (net::conn's set_*_deadline). Each goroutine record has an
// rtimer on its stack, armed while it is queued, in the heap of the waiter's
// P (timers.hpp). rtimer functions run under their heap's lock and take the
// poll_desc lock inside it, so the lock order is
//     registry lock -> poll_desc lock                 (netpoller teardown, reuse)
//     heap lock(s, in P order) -> poll_desc lock      (timers, arming, set_deadline)
// and nothing takes a heap lock, sched_t::lock or the registry lock while
// holding a poll_desc lock (the poll_desc lock is a leaf). A waiter whose
// deadline exists takes its P's heap lock before the poll_desc lock and arms
// its timer while both are held; it keeps the poll_desc lock until park's
// unlock step, so neither the timer nor an event can ready it before it has
// switched away. set_deadline stores the new deadline under the poll_desc
// lock; if goroutines wait, it then takes every P's heap lock (in P order:
// the waiters' timers may be in any of them) and the poll_desc lock, re-arms
// each record's timer in the heap it was in, and wakes those whose deadline
// has passed (it changes rtimer::heap of a timer it does not own only while
// holding every heap lock and the record is queued, so its owner cannot be
// running). A waiter that was woken calls timer_del on its record's timer (if
// it may have been armed) before its frame goes away: after timer_del the
// timer's function is not running and will not run (rtimer's contract).
//
// Plain OS threads (no M, or an M's g0) do not use the netpoller: they block
// in poll(2) on the fd and on a per-thread eventfd. Their records sit in the
// same lists (gp == nullptr, not counted in netpoll_waiters) so that close
// and set_deadline can wake them by writing to that eventfd, which they do
// under the poll_desc lock while the record is queued (so the thread, and its
// eventfd, are still there).
#ifndef GORO_DETAIL_NETPOLL_HPP
#define GORO_DETAIL_NETPOLL_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "context.hpp"
#include "park.hpp"
#include "time.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>
#include <unordered_map>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace net {
// closed_error: use of a closed fd, conn or listener, or one closed while the
// caller was blocked on it (Go: net.ErrClosed). what() is the text given,
// exactly: "use of closed network connection" by default; an operation on a
// conn or listener names itself as Go's net.OpError does ("write tcp
// 127.0.0.1:5000->127.0.0.1:41234: use of closed network connection").
// bytes_written(): what a failing write handed to the kernel before the
// close (0 otherwise). Copying never throws: the text is shared.
struct closed_error : std::system_error {
  closed_error() : closed_error("use of closed network connection") {}
  explicit closed_error(const std::string& what, std::size_t bytes_written = 0)
      : std::system_error(std::make_error_code(std::errc::bad_file_descriptor)),
        text_(std::make_shared<const std::string>(what)),
        written_(bytes_written) {}
  const char* what() const noexcept override { return text_->c_str(); }
  std::size_t bytes_written() const noexcept { return written_; }

 private:
  std::shared_ptr<const std::string> text_;  // never null
  std::size_t written_;
};
}  // namespace net

namespace detail {

inline constexpr int pd_read = 0;
inline constexpr int pd_write = 1;
inline constexpr int pd_sleep = 2;  // woken only by the call's deadline or by close
inline constexpr int pd_mask_read = 1;
inline constexpr int pd_mask_write = 2;

enum class pd_result : std::uint8_t { none, ready, timeout, closed, cancelled, ctx_done };

struct poll_desc;
class epoll_netpoller;

// pd_waiter: one goroutine or plain thread waiting on a poll_desc. Lives on
// the waiter's stack. Guarded by the poll_desc's lock while queued.
struct pd_waiter {
  g* gp = nullptr;           // nullptr: a plain thread, woken through wake_fd
  poll_desc* pd = nullptr;
  int mode = pd_read;
  int wake_fd = -1;          // plain thread: its eventfd (-1: it polls in slices)
  std::int64_t call_deadline = no_timer;  // nanotime(); no_timer: none
  pd_waiter* next = nullptr;
  pd_waiter* prev = nullptr;
  bool queued = false;
  bool timer_used = false;   // t may have been armed: the waiter must timer_del it
  pd_result result = pd_result::none;
  rtimer t;                  // goroutines: the deadline (its heap's lock)
};

// describe_pd_wait: the describe_fn of a goroutine parked on an fd:
// "fd 5 (read)". The fd is read racily (it does not change while a waiter
// is queued).
GORO_DETAIL_COMPILED std::uint64_t describe_pd_wait(const void* obj, std::string* out, const dump_ctx*);

// pd_ctx: a wait's tie to a context (dial(addr, ctx)): when the context is
// cancelled its waiter takes the call's current pd_waiter out of the list
// with pd_result::ctx_done and wakes it. Registered before the wait's first
// lock, unregistered after its last (a context's lock is taken before a
// poll_desc's). cur and err: guarded by pd->lock.
struct pd_ctx {
  poll_desc* pd = nullptr;
  ctx_node* n = nullptr;
  pd_waiter* cur = nullptr;
  int err = ctx_live;
  ctx_waiter cw;

  // arm: registers; throws the context's error if it has already ended.
  void arm(poll_desc* p, ctx_node* node);
  ~pd_ctx() { ctx_unregister(n, &cw); }
};

// poll_desc: see the file comment. Never freed.
struct alignas(64) poll_desc {
  struct direction {
    pd_waiter* head = nullptr;  // lock
    pd_waiter* tail = nullptr;  // lock
    bool ready = false;         // lock: an edge arrived while nobody waited (Go: pdReady)
    // The direction's deadline (nanotime(); no_timer: none). Written under
    // lock; read without it by the fast checks (pd_prepare).
    std::atomic<std::int64_t> deadline{no_timer};
  };

  rt_mutex lock;
  int fd = -1;                               // lock (and the registry lock)
  std::atomic<bool> closing{false};          // written under lock; read racily by pd_prepare
  bool pollable = true;                      // lock: false if epoll refuses the fd (regular files: always ready)
  std::uint16_t seq = 0;                     // lock: tags epoll events (see the file comment)
  std::atomic<epoll_netpoller*> np{nullptr}; // written under lock: the epoll the fd is in, or nullptr
  direction d[3];
  poll_desc* free_next = nullptr;            // registry lock
};

// ---------------------------------------------------------------------------
// The registry: fd -> poll_desc, process-wide (a conn may be used from plain
// threads and from goroutines), with a free list (Go: pollCache).

struct pd_registry {
  rt_mutex mu;
  std::unordered_map<int, poll_desc*> by_fd;  // mu
  poll_desc* free = nullptr;                  // mu
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED std::uint64_t describe_pd_wait(const void* obj, std::string* out, const dump_ctx*) {
  if (out == nullptr) return 0;
  const pd_waiter* w = static_cast<const pd_waiter*>(obj);
  *out += "fd ";
  *out += std::to_string(w->pd->fd);
  *out += w->mode == pd_read ? " (read)" : w->mode == pd_write ? " (write)" : " (deadline)";
  return 0;
}

GORO_DETAIL_COMPILED pd_registry& registry() {
  static pd_registry* r = new pd_registry;  // never destroyed: poll_descs outlive everything
  return *r;
}

// pd_get returns fd's poll_desc; with create, makes one if there is none.
GORO_DETAIL_COMPILED poll_desc* pd_get(int fd, bool create) {
  pd_registry& r = registry();
  rt_lock_guard lk(r.mu);
  auto it = r.by_fd.find(fd);
  if (it != r.by_fd.end()) return it->second;
  if (!create) return nullptr;
  poll_desc* pd = r.free;
  if (pd != nullptr) r.free = pd->free_next;
  else pd = new poll_desc;
  try {
    r.by_fd.emplace(fd, pd);
  } catch (...) {
    pd->free_next = r.free;
    r.free = pd;
    throw;
  }
  rt_lock_guard pl(pd->lock);
  pd->fd = fd;
  pd->closing.store(false, std::memory_order_relaxed);
  pd->pollable = true;
  pd->np.store(nullptr, std::memory_order_relaxed);
  for (auto& d : pd->d) {
    d.ready = false;
    d.deadline.store(no_timer, std::memory_order_relaxed);
  }
  return pd;
}

// pd_remove takes fd's poll_desc out of the map (io::close); nullptr if none.
GORO_DETAIL_COMPILED poll_desc* pd_remove(int fd) noexcept {
  pd_registry& r = registry();
  rt_lock_guard lk(r.mu);
  auto it = r.by_fd.find(fd);
  if (it == r.by_fd.end()) return nullptr;
  poll_desc* pd = it->second;
  r.by_fd.erase(it);
  return pd;
}

GORO_DETAIL_COMPILED void pd_free(poll_desc* pd) noexcept {
  pd_registry& r = registry();
  rt_lock_guard lk(r.mu);
  pd->free_next = r.free;
  r.free = pd;
}
#else
GORO_DETAIL_COMPILED pd_registry& registry();
GORO_DETAIL_COMPILED poll_desc* pd_get(int fd, bool create);
GORO_DETAIL_COMPILED poll_desc* pd_remove(int fd) noexcept;
GORO_DETAIL_COMPILED void pd_free(poll_desc* pd) noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// Wait lists. Require pd->lock.

inline void pd_enqueue(poll_desc* pd, pd_waiter* w) noexcept {
  auto& d = pd->d[w->mode];
  w->next = nullptr;
  w->prev = d.tail;
  if (d.tail != nullptr) d.tail->next = w;
  else d.head = w;
  d.tail = w;
  w->queued = true;
}

// pd_unlink takes w out of its list with result r; a plain thread is woken
// here (its eventfd), a goroutine is left to the caller to ready.
inline void pd_unlink(poll_desc* pd, pd_waiter* w, pd_result r) noexcept {
  auto& d = pd->d[w->mode];
  if (w->prev != nullptr) w->prev->next = w->next;
  else d.head = w->next;
  if (w->next != nullptr) w->next->prev = w->prev;
  else d.tail = w->prev;
  w->next = w->prev = nullptr;
  w->queued = false;
  w->result = r;
  if (w->gp != nullptr) {
    netpoll_waiter_removed(w->gp->sched);
  } else if (w->wake_fd >= 0) {
    std::uint64_t one = 1;
    int saved = errno;
    [[maybe_unused]] ssize_t n = ::write(w->wake_fd, &one, sizeof one);
    errno = saved;
  }
}

inline void pd_ctx::arm(poll_desc* p, ctx_node* node) {
  pd = p;
  n = node;
  cw.arg = this;
  cw.fn = [](ctx_waiter* w, int code) noexcept {
    auto* c = static_cast<pd_ctx*>(w->arg);
    g* gp = nullptr;
    {
      rt_lock_guard lk(c->pd->lock);
      c->err = code;
      if (c->cur != nullptr && c->cur->queued) {
        gp = c->cur->gp;
        pd_unlink(c->pd, c->cur, pd_result::ctx_done);  // a plain thread is woken here
      }
    }
    if (gp != nullptr) ready(gp);
  };
  if (!ctx_register(n, &cw)) {
    n = nullptr;  // not registered: nothing to undo
    throw_ctx_error(node->err.load(std::memory_order_acquire));
  }
}

inline bool pd_has_goroutine_waiters(poll_desc* pd) noexcept {
  for (auto& d : pd->d)
    for (pd_waiter* w = d.head; w != nullptr; w = w->next)
      if (w->gp != nullptr) return true;
  return false;
}

// ready_list readies a list of goroutines linked through schedlink.
inline void ready_list(g* list) {
  while (list != nullptr) {
    g* gp = list;
    list = gp->schedlink;
    gp->schedlink = nullptr;
    ready(gp);
  }
}

// ---------------------------------------------------------------------------
// The epoll netpoller (Go: netpoll_epoll.go).

class epoll_netpoller final : public netpoller {
 public:
  explicit epoll_netpoller(sched_t* s) : sched_(s) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "goro: epoll_create1");
    evfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (evfd_ < 0) {
      int e = errno;
      ::close(epfd_);
      throw std::system_error(e, std::generic_category(), "goro: eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: only a blocking poll consumes it (Go does the same)
    ev.data.u64 = 0;      // poll_desc pointers are never 0
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) < 0) {
      int e = errno;
      ::close(evfd_);
      ::close(epfd_);
      throw std::system_error(e, std::generic_category(), "goro: epoll_ctl");
    }
  }

  // The runtime is gone (every goroutine exited, every M joined): detach the
  // poll_descs registered here, so that a later runtime registers them anew.
  ~epoll_netpoller() override {
    {
      pd_registry& r = registry();
      rt_lock_guard lk(r.mu);
      for (auto& kv : r.by_fd) {
        poll_desc* pd = kv.second;
        rt_lock_guard pl(pd->lock);
        if (pd->np.load(std::memory_order_relaxed) == this) {
          pd->np.store(nullptr, std::memory_order_relaxed);
          ++pd->seq;
        }
      }
    }
    ::close(evfd_);
    ::close(epfd_);
  }

  epoll_netpoller(const epoll_netpoller&) = delete;
  epoll_netpoller& operator=(const epoll_netpoller&) = delete;

  sched_t* sched() const noexcept { return sched_; }
  int epfd() const noexcept { return epfd_; }

  static std::uint64_t tag(poll_desc* pd) noexcept {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(pd)) | (static_cast<std::uint64_t>(pd->seq) << 48);
  }

  // poll: Go's netpoll(delay). Any M; several may poll at once (epoll_wait is
  // thread-safe, and each edge is reported to one of them).
  g* poll(std::int64_t timeout_ns) noexcept override {
    int saved = errno;
    epoll_event evs[128];
    int n = wait_events(evs, 128, timeout_ns);
    g* list = nullptr;
    for (int i = 0; i < n; ++i) {
      std::uint64_t data = evs[i].data.u64;
      if (data == 0) {
        // wake(): only a blocking poll consumes it, so that a non-blocking
        // poll on another M cannot swallow the wake of the M blocked here.
        if (timeout_ns != 0) {
          std::uint64_t buf;
          [[maybe_unused]] ssize_t r = ::read(evfd_, &buf, sizeof buf);
          wake_sig_.store(0, std::memory_order_release);
        }
        continue;
      }
      auto* pd = reinterpret_cast<poll_desc*>(static_cast<std::uintptr_t>(data & ((std::uint64_t{1} << 48) - 1)));
      san_acquire(pd);  // pairs with the release in pd_attach_locked
      auto seq = static_cast<std::uint16_t>(data >> 48);
      std::uint32_t e = evs[i].events;
      bool r = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
      bool w = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
      ready_fd(pd, seq, r, w, &list);
    }
    errno = saved;
    return list;
  }

  // wake: Go's netpollBreak: at most one write in flight.
  void wake() noexcept override {
    std::uint32_t zero = 0;
    if (!wake_sig_.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) return;
    int saved = errno;
    std::uint64_t one = 1;
    for (;;) {
      ssize_t n = ::write(evfd_, &one, sizeof one);
      if (n >= 0 || errno != EINTR) break;
    }
    errno = saved;
  }

 private:
  // ready_fd: an event for pd. Wakes the waiters of each direction that is
  // ready, or remembers the edge. Goroutines go on *list; plain threads are
  // left alone (they poll the fd themselves).
  void ready_fd(poll_desc* pd, std::uint16_t seq, bool r, bool w, g** list) noexcept {
    rt_lock_guard lk(pd->lock);
    if (pd->seq != seq || pd->np.load(std::memory_order_relaxed) != this) return;  // stale: closed or moved since
    for (int mode = pd_read; mode <= pd_write; ++mode) {
      if (mode == pd_read ? !r : !w) continue;
      auto& d = pd->d[mode];
      bool woke = false;
      for (pd_waiter* x = d.head; x != nullptr;) {
        pd_waiter* next = x->next;
        if (x->gp != nullptr) {
          g* gp = x->gp;
          pd_unlink(pd, x, pd_result::ready);
          gp->schedlink = *list;
          *list = gp;
          woke = true;
        }
        x = next;
      }
      if (!woke) d.ready = true;
    }
  }

  int wait_events(epoll_event* evs, int max, std::int64_t timeout_ns) noexcept {
    if (timeout_ns <= 0) return ::epoll_wait(epfd_, evs, max, timeout_ns == 0 ? 0 : -1);
#ifdef SYS_epoll_pwait2
    // Nanosecond timeouts, so timers are not rounded up to a millisecond.
    static std::atomic<bool> have_pwait2{true};
    if (have_pwait2.load(std::memory_order_relaxed)) {
      timespec ts;
      ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
      long n = ::syscall(SYS_epoll_pwait2, epfd_, evs, max, &ts, nullptr, 8);
      if (n >= 0 || errno != ENOSYS) return static_cast<int>(n);
      have_pwait2.store(false, std::memory_order_relaxed);
    }
#endif
    std::int64_t ms = (timeout_ns + 999'999) / 1'000'000;
    if (ms > 1'000'000'000) ms = 1'000'000'000;  // Go caps it too (about 11.5 days)
    return ::epoll_wait(epfd_, evs, max, static_cast<int>(ms));
  }

  sched_t* sched_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::atomic<std::uint32_t> wake_sig_{0};  // a wake() is in flight (Go: netpollWakeSig)
};

// netpoll_for returns s's netpoller, creating it on first use.
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED epoll_netpoller* netpoll_for(sched_t* s) {
  return netpoll_of<epoll_netpoller>(s, [](sched_t* rt) { return new epoll_netpoller(rt); });
}

// pd_attach_locked registers pd's fd with np (once per fd and runtime).
// Requires pd->lock.
GORO_DETAIL_COMPILED void pd_attach_locked(poll_desc* pd, epoll_netpoller* np) {
  GORO_DETAIL_DCHECK(pd->lock.held(), "pd_attach_locked: poll_desc.lock not held");
  epoll_netpoller* old = pd->np.load(std::memory_order_relaxed);
  if (old == np) return;
  if (old != nullptr) {
    // Registered with another runtime that is still alive: move it, if none
    // of that runtime's goroutines waits on it.
    if (pd_has_goroutine_waiters(pd))
      throw std::logic_error("goro::io: fd " + std::to_string(pd->fd) + " is waited on by goroutines of two runtimes");
    ::epoll_ctl(old->epfd(), EPOLL_CTL_DEL, pd->fd, nullptr);
  }
  ++pd->seq;  // events still in flight from the old registration are stale
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = epoll_netpoller::tag(pd);
  // The kernel hands pd to whichever M polls next: tell TSan about that
  // happens-before edge (it cannot see it through epoll). Pairs with the
  // acquire in poll().
  san_release(pd);
  if (::epoll_ctl(np->epfd(), EPOLL_CTL_ADD, pd->fd, &ev) < 0) {
    int e = errno;
    if (e == EEXIST) {
      if (::epoll_ctl(np->epfd(), EPOLL_CTL_MOD, pd->fd, &ev) < 0) e = errno;
      else e = 0;
    }
    if (e == EPERM) {
      pd->pollable = false;  // a regular file or directory: always ready (Go does not poll them either)
    } else if (e == EBADF) {
      throw net::closed_error();
    } else if (e != 0) {
      throw std::system_error(e, std::generic_category(), "goro: epoll_ctl");
    }
  }
  pd->np.store(np, std::memory_order_release);
}
#else
GORO_DETAIL_COMPILED epoll_netpoller* netpoll_for(sched_t* s);
GORO_DETAIL_COMPILED void pd_attach_locked(poll_desc* pd, epoll_netpoller* np);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// pd_prepare: Go's pollDesc.prepare: closed_error if pd is closing,
// timeout_error if mode's deadline has passed. No lock.
inline void pd_prepare(poll_desc* pd, int mode) {
  rt_region rt;  // deterministic mode under TSan (sanitizer.hpp)
  if (pd->closing.load(std::memory_order_acquire)) throw net::closed_error();
  std::int64_t dl = pd->d[mode].deadline.load(std::memory_order_acquire);
  if (dl != no_timer && dl <= nanotime()) throw timeout_error();
}

// deadline_of: a deadline argument as a nanotime() value: no_timer for
// time_point::max() (of the caller's duration type: no deadline), else
// saturated as deadline_ns does.
template <class Dur>
std::int64_t deadline_of(std::chrono::time_point<clock, Dur> t) noexcept {
  return t == std::chrono::time_point<clock, Dur>::max() ? no_timer : deadline_ns(t);
}

// thread_wake_fd: the calling plain thread's eventfd (see the file comment),
// created on first use; -1 if it cannot be made (then the thread polls in
// slices).
struct thread_waker {
  int fd = -2;
  ~thread_waker() {
    if (fd >= 0) ::close(fd);
  }
};
GORO_DETAIL_NOINLINE inline int thread_wake_fd() noexcept {
  asm volatile("" ::: "memory");
  static thread_local thread_waker tw;
  if (tw.fd == -2) {
    int saved = errno;
    tw.fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    errno = saved;
  }
  return tw.fd;
}

inline short poll_events(int mode) noexcept {
  return mode == pd_read ? POLLIN | POLLRDHUP : mode == pd_write ? POLLOUT : 0;
}

// pd_wait_thread: a plain OS thread waits for fd (mode) in poll(2). pd may be
// nullptr (an fd no goroutine has waited on; then ctx must be nullptr too).
// For pd_sleep it returns at the deadline; otherwise the deadline throws
// timeout_error, and ctx's end its error.
inline void pd_wait_thread(poll_desc* pd, int fd, int mode, std::int64_t call_dl, ctx_node* ctx = nullptr) {
  plain_call_scope scope;  // a plain thread inside a goro call: see checkdead
  int efd = pd != nullptr ? thread_wake_fd() : -1;
  pd_ctx pc;
  if (ctx != nullptr) pc.arm(pd, ctx);
  for (;;) {
    pd_waiter w;
    w.mode = mode;
    w.wake_fd = efd;
    w.pd = pd;
    std::int64_t eff = call_dl;
    if (pd != nullptr) {
      rt_lock_guard lk(pd->lock);
      if (pd->closing.load(std::memory_order_relaxed)) throw net::closed_error();
      if (pc.err != ctx_live) throw_ctx_error(pc.err);
      if (mode != pd_sleep) eff = std::min(eff, pd->d[mode].deadline.load(std::memory_order_relaxed));
      if (eff != no_timer && eff <= nanotime()) {
        if (mode == pd_sleep) return;
        throw timeout_error();
      }
      if (mode != pd_sleep && !pd->pollable) return;
      pd_enqueue(pd, &w);
      pc.cur = &w;
    } else if (eff != no_timer && eff <= nanotime()) {
      if (mode == pd_sleep) return;
      throw timeout_error();
    }
    pollfd fds[2];
    int nfds = 0;
    if (mode != pd_sleep) fds[nfds++] = pollfd{fd, poll_events(mode), 0};
    int efd_at = -1;
    if (efd >= 0) {
      efd_at = nfds;
      fds[nfds++] = pollfd{efd, POLLIN, 0};
    }
    int timeout_ms = -1;
    if (eff != no_timer) {
      std::int64_t left = eff - nanotime();
      timeout_ms = left <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>((left + 999'999) / 1'000'000, 1'000'000'000));
    }
    if (pd != nullptr && efd < 0 && (timeout_ms < 0 || timeout_ms > 20)) timeout_ms = 20;  // no eventfd: notice close in slices
    int rc = ::poll(fds, static_cast<nfds_t>(nfds), timeout_ms);
    int err = errno;
    pd_result res = pd_result::none;
    if (pd != nullptr) {
      rt_lock_guard lk(pd->lock);
      if (w.queued) {
        w.wake_fd = -1;  // taking itself out: no need to write to its own eventfd
        pd_unlink(pd, &w, pd_result::none);
      }
      pc.cur = nullptr;
      res = w.result;
    }
    if (efd_at >= 0 && (res != pd_result::none || fds[efd_at].revents != 0)) {
      std::uint64_t buf;
      [[maybe_unused]] ssize_t n = ::read(efd, &buf, sizeof buf);  // drain: every write happened while w was queued
    }
    if (res == pd_result::closed) throw net::closed_error();
    if (res == pd_result::timeout) {
      if (mode == pd_sleep) return;
      throw timeout_error();
    }
    if (res == pd_result::ctx_done) throw_ctx_error(pc.err);
    if (rc < 0 && err != EINTR) throw std::system_error(err, std::generic_category(), "goro: poll");
    if (rc > 0 && mode != pd_sleep && fds[0].revents != 0) {
      if ((fds[0].revents & POLLNVAL) != 0) throw net::closed_error();
      return;
    }
    if (eff != no_timer && nanotime() >= eff) {
      if (mode == pd_sleep) return;
      throw timeout_error();
    }
    // EINTR, a deadline moved, or a slice ended: again.
  }
}

// pd_wait parks the calling goroutine until pd's fd is ready for mode (or,
// for pd_sleep, until call_dl), the deadline passes (timeout_error), pd is
// closed (net::closed_error), ctx (nullptr: none) ends (canceled_error or
// timeout_error) or the runtime unwinds (goroutine_exit). On a plain thread it
// blocks the thread in poll(2). Inside blocking<> it throws std::logic_error.
// Go: netpollblock.
inline void pd_wait(poll_desc* pd, int mode, std::int64_t call_dl, ctx_node* ctx = nullptr) {
  rt_region rt;  // deterministic mode under TSan (sanitizer.hpp)
  throw_if_blocking();  // parking inside blocking<> is a logic_error
  if (!on_goroutine()) {
    pd_wait_thread(pd, pd->fd, mode, call_dl, ctx);
    return;
  }
  sched_t* s = current_sched();
  epoll_netpoller* np = netpoll_for(s);
  if (GORO_DETAIL_UNLIKELY(pd->np.load(std::memory_order_acquire) != np)) {
    rt_lock_guard lk(pd->lock);
    if (pd->closing.load(std::memory_order_relaxed)) throw net::closed_error();
    pd_attach_locked(pd, np);
  }

  pd_waiter w;
  w.gp = getg();
  w.pd = pd;
  w.mode = mode;
  w.call_deadline = call_dl;
  pd_ctx pc;  // after w: unregistered (its waiter no longer running) before w goes
  if (ctx != nullptr) pc.arm(pd, ctx);
  w.t.arg = &w;
  w.t.f = [](rtimer* t, std::int64_t) noexcept {
    // Runs under its heap's lock: the poll_desc lock is a leaf below it.
    auto* x = static_cast<pd_waiter*>(t->arg);
    g* gp = nullptr;
    {
      rt_lock_guard lk(x->pd->lock);
      if (!x->queued) return;  // woken otherwise first
      gp = x->gp;
      pd_unlink(x->pd, x, pd_result::timeout);
    }
    ready(gp);
  };

  struct unlock_arg {
    poll_desc* pd;
    sched_t* s;
    std::int64_t when;  // the timer armed, if it is now the earliest (else no_timer)
    bool kick;
  } ua{pd, s, no_timer, false};

  bool with_timers = call_dl != no_timer || (mode != pd_sleep && pd->d[mode].deadline.load(std::memory_order_relaxed) != no_timer);
  timer_heap* th = timer_home(s);  // this goroutine's P's heap (it holds the P until it parks)
  for (;;) {
    if (with_timers) th->lock.lock();
    pd->lock.lock();
    std::int64_t eff = call_dl;
    if (mode != pd_sleep) eff = std::min(eff, pd->d[mode].deadline.load(std::memory_order_relaxed));
    if (eff != no_timer && !with_timers) {  // a deadline was set meanwhile: arm it under the heap lock
      pd->lock.unlock();
      with_timers = true;
      continue;
    }
    auto unlock_all = [&] {
      pd->lock.unlock();
      if (with_timers) th->lock.unlock();
    };
    if (pd->closing.load(std::memory_order_relaxed)) {
      unlock_all();
      throw net::closed_error();
    }
    if (pc.err != ctx_live) {
      unlock_all();
      throw_ctx_error(pc.err);
    }
    if (eff != no_timer && eff <= nanotime()) {
      unlock_all();
      if (mode == pd_sleep) return;
      throw timeout_error();
    }
    if (mode != pd_sleep) {
      auto& d = pd->d[mode];
      if (d.ready || !pd->pollable || pd->np.load(std::memory_order_relaxed) != np) {
        // An edge arrived since the caller's failed attempt (or the fd cannot
        // be polled, or it was moved away this instant): retry the operation.
        d.ready = false;
        unlock_all();
        return;
      }
    }
    pd_enqueue(pd, &w);
    pc.cur = &w;
    ua.kick = netpoll_waiter_added(s);
    if (eff != no_timer) {
      w.t.when = eff;
      w.timer_used = true;
      if (th->add_locked(&w.t)) ua.when = eff;
    }
    if (with_timers) th->lock.unlock();
    break;  // pd->lock is released by park's unlock step, after the switch
  }

  // After the wait (however it ends, goroutine_exit included): the record's
  // timer must be gone before this frame is.
  struct cleanup {
    pd_waiter& w;
    sched_t* s;
    ~cleanup() {
      if (w.timer_used) timer_del(s, &w.t);
    }
  } done{w, s};

  park(
      wait_reason::io_wait,
      [](g*, void* a) noexcept {
        unlock_arg x = *static_cast<unlock_arg*>(a);  // copy: after the unlock the waiter may run and return
        x.pd->lock.unlock();
        if (x.when != no_timer) timer_wake_sleeper(x.s, x.when);
        if (x.kick) netpoll_kick(x.s);
        return true;
      },
      &ua,
      park_opts{[](g*, void* wp) noexcept {
                  auto* x = static_cast<pd_waiter*>(wp);
                  rt_lock_guard lk(x->pd->lock);
                  if (!x->queued) return false;
                  pd_unlink(x->pd, x, pd_result::cancelled);
                  return true;
                },
                &w, &w, &describe_pd_wait});

  switch (w.result) {
    case pd_result::closed: throw net::closed_error();
    case pd_result::timeout:
      if (mode == pd_sleep) return;
      throw timeout_error();
    case pd_result::ctx_done: throw_ctx_error(pc.err);
    default: return;
  }
}

// pd_set_deadline sets the deadline (nanotime(); no_timer: none) of the
// directions in mask (pd_mask_read | pd_mask_write), re-arms the timers of
// the goroutines waiting in them, and wakes those whose deadline has passed
// with timeout_error (Go: poll_runtime_pollSetDeadline). Any goroutine or thread.
inline void pd_set_deadline(poll_desc* pd, int mask, std::int64_t dl) {
  rt_region rt;  // deterministic mode under TSan (sanitizer.hpp)
  plain_call_scope scope;
  epoll_netpoller* np = nullptr;
  {
    rt_lock_guard lk(pd->lock);
    bool goroutines = false;
    std::int64_t now = dl != no_timer ? nanotime() : 0;
    for (int mode = pd_read; mode <= pd_write; ++mode) {
      if ((mask & (1 << mode)) == 0) continue;
      auto& d = pd->d[mode];
      d.deadline.store(dl, std::memory_order_release);
      for (pd_waiter* x = d.head; x != nullptr;) {
        pd_waiter* next = x->next;
        if (x->gp != nullptr) goroutines = true;
        else pd_unlink(pd, x, dl != no_timer && dl <= now ? pd_result::timeout : pd_result::none);  // a thread re-polls
        x = next;
      }
    }
    if (!goroutines) return;
    np = pd->np.load(std::memory_order_relaxed);
  }
  // Goroutines wait: their runtime is alive. Re-arm their timers.
  sched_t* s = np->sched();
  g* wake = nullptr;
  std::int64_t earliest = no_timer;
  {
    all_timer_heaps tl(s);  // the waiters' timers may be in any heap
    timer_heap* home = timer_home(s);
    rt_lock_guard lk(pd->lock);
    if (pd->np.load(std::memory_order_relaxed) != np) return;  // closed or moved since: its waiters are gone
    std::int64_t now = nanotime();
    for (int mode = pd_read; mode <= pd_write; ++mode) {
      if ((mask & (1 << mode)) == 0) continue;
      auto& d = pd->d[mode];
      std::int64_t ddl = d.deadline.load(std::memory_order_relaxed);
      for (pd_waiter* x = d.head; x != nullptr;) {
        pd_waiter* next = x->next;
        if (x->gp != nullptr) {
          std::int64_t eff = std::min(x->call_deadline, ddl);
          timer_heap* h = x->t.heap.load(std::memory_order_relaxed);
          if (h != nullptr) h->del_locked(&x->t);
          else h = home;
          if (eff != no_timer && eff <= now) {
            g* gp = x->gp;
            pd_unlink(pd, x, pd_result::timeout);
            gp->schedlink = wake;
            wake = gp;
          } else if (eff != no_timer) {
            x->t.when = eff;
            x->timer_used = true;
            if (h->add_locked(&x->t)) earliest = std::min(earliest, eff);
          }
        }
        x = next;
      }
    }
  }
  if (earliest != no_timer) timer_added(s, earliest, true, false);  // wake the timer M, or an M to watch them
  ready_list(wake);
}

// pd_evict marks pd closing and wakes everyone waiting on it with
// net::closed_error (Go: poll_runtime_pollUnblock). Any goroutine or thread.
inline void pd_evict(poll_desc* pd) {
  rt_region rt;  // deterministic mode under TSan (sanitizer.hpp)
  plain_call_scope scope;
  g* wake = nullptr;
  {
    rt_lock_guard lk(pd->lock);
    pd->closing.store(true, std::memory_order_release);
    for (auto& d : pd->d) {
      for (pd_waiter* x = d.head; x != nullptr;) {
        pd_waiter* next = x->next;
        g* gp = x->gp;
        pd_unlink(pd, x, pd_result::closed);
        if (gp != nullptr) {
          gp->schedlink = wake;
          wake = gp;
        }
        x = next;
      }
    }
  }
  ready_list(wake);
}

// io_close: io::close. Returns ::close's errno (0 on success).
inline int io_close(int fd) {
  rt_region rt;  // deterministic mode under TSan (sanitizer.hpp)
  if (poll_desc* pd = pd_remove(fd)) {
    pd_evict(pd);
    {
      rt_lock_guard lk(pd->lock);
      if (epoll_netpoller* np = pd->np.load(std::memory_order_relaxed)) {
        ::epoll_ctl(np->epfd(), EPOLL_CTL_DEL, fd, nullptr);
        pd->np.store(nullptr, std::memory_order_relaxed);
      }
      ++pd->seq;
      pd->fd = -1;
    }
    pd_free(pd);
  }
  int saved = errno;
  int rc = ::close(fd);
  int e = rc < 0 && errno != EINTR ? errno : 0;  // Linux: the fd is gone even after EINTR
  errno = saved;
  return e;
}

// io_wait: io::wait_readable / wait_writable (dl: from deadline_of).
inline void io_wait(int fd, int mode, std::int64_t dl) {
  rt_region rt;  // deterministic mode under TSan (sanitizer.hpp)
  if (fd < 0) throw net::closed_error();
  if (!on_goroutine()) {
    pd_wait_thread(pd_get(fd, false), fd, mode, dl);
    return;
  }
  pd_wait(pd_get(fd, true), mode, dl);
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Public API (docs/reference.md, "Network and file descriptors").

namespace io {

// wait_readable blocks until fd (which must be O_NONBLOCK) is readable: the
// goroutine parks in the netpoller; a plain OS thread blocks in poll(2).
// Edge-triggered: call it after a read returned EAGAIN. Throws
// goro::timeout_error once deadline passes, net::closed_error if io::close
// closes fd meanwhile. The deadline may have any duration type and saturates
// (time_point::max(): none).
template <class Dur = clock::duration>
void wait_readable(int fd, std::chrono::time_point<clock, Dur> deadline = clock::time_point::max()) {
  detail::io_wait(fd, detail::pd_read, detail::deadline_of(deadline));
}

// wait_writable: as wait_readable, for writing.
template <class Dur = clock::duration>
void wait_writable(int fd, std::chrono::time_point<clock, Dur> deadline = clock::time_point::max()) {
  detail::io_wait(fd, detail::pd_write, detail::deadline_of(deadline));
}

// close deregisters fd from the netpoller, wakes the goroutines and threads
// waiting on it with net::closed_error, then closes it. Throws
// std::system_error if close(2) fails (other than with EINTR).
inline void close(int fd) {
  if (fd < 0) throw net::closed_error();
  int e = detail::io_close(fd);
  if (e != 0) throw std::system_error(e, std::generic_category(), "goro::io::close");
}

}  // namespace io

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_NETPOLL_HPP
