// goro/netfd.hpp — a socket shared by its owner (conn, listener, packet_conn)
// and the operations running on it (Go: internal/poll.FD), and net::error.
//
// netfd is Go's poll.FD with its fdMutex simplified: one atomic word holds a
// closing bit, a bit for a close() in progress, a bit for the owner (the conn
// or listener object) and a count of the operations in progress. Every
// operation counts itself while it runs (fd_ref; it fails with closed_error
// once closing is set). close() sets closing and its own bit, wakes the
// operations blocked in the netpoller (pd_evict: they throw closed_error),
// waits until the last has left (Go: fd.Close's csema), and closes the fd: so
// the fd number is released only after every operation on it has returned,
// and cannot be reused under a late read. Its bit keeps the netfd alive until
// close() returns, even when the owner is destroyed meanwhile, which the
// cancelled goroutine may do as soon as its call has returned (the README's
// pattern: one goroutine closes a conn to cancel another's read). The
// destructor of a conn that was not closed sets closing and wakes the
// operations without waiting. Whoever leaves the word with no holder (no
// operation, no owner, no close() in progress) frees the netfd, closing the fd
// first unless close() did: the fd is closed exactly once.
#ifndef GORO_DETAIL_NETFD_HPP
#define GORO_DETAIL_NETFD_HPP

#include "config.hpp"
#include "netpoll.hpp"
#include "park.hpp"
#include "sema.hpp"
#include "sync.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace detail {
struct exact_text_t {};  // net::error's constructor whose text is what() exactly
}  // namespace detail

namespace net {
// error: a network failure carrying the OS errno (generic category, so that
// ECONNRESET compares equal to std::errc::connection_reset) or a getaddrinfo
// code. The operations of conn and listener give it Go's net.OpError text
// (detail::rethrow_op): "read tcp 127.0.0.1:5000->127.0.0.1:41234: read:
// connection reset by peer". bytes_written(): what a failing write handed to
// the kernel before the error (0 otherwise). Copying never throws.
struct error : std::system_error {
  using std::system_error::system_error;  // what(): system_error's ("what_arg: message")
  error(std::error_code ec, detail::exact_text_t, const std::string& text, std::size_t bytes_written = 0)
      : std::system_error(ec), text_(std::make_shared<const std::string>(text)), written_(bytes_written) {}
  const char* what() const noexcept override { return text_ ? text_->c_str() : std::system_error::what(); }
  std::size_t bytes_written() const noexcept { return written_; }

 private:
  std::shared_ptr<const std::string> text_;  // null: system_error's text
  std::size_t written_ = 0;
};
}  // namespace net

namespace detail {

inline net::error net_error(int e, const std::string& what) { return net::error(e, std::generic_category(), what); }

// errno_text: the errno's text as Go spells it (strerror's, first letter in
// lower case: "connection reset by peer").
inline std::string errno_text(int e) {
  std::string s = std::generic_category().message(e);
  if (s.size() > 1 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'a' && s[1] <= 'z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

// syscall_error: errno e of system call name, as Go's os.SyscallError:
// net::error with what() "connect: connection refused". Thrown inside an
// operation, whose rethrow_op prefixes the operation.
inline net::error syscall_error(int e, const char* name) {
  return net::error(std::error_code(e, std::generic_category()), exact_text_t{}, std::string(name) + ": " + errno_text(e));
}

// op_error_text: Go's net.OpError.Error() prefix: "op net source->addr",
// "op net addr" without a source, "op net" without either, "op" without a
// network.
inline std::string op_error_text(std::string_view op, std::string_view net, std::string_view source, std::string_view addr) {
  std::string s(op);
  if (!net.empty()) s.append(" ").append(net);
  if (!source.empty()) s.append(" ").append(source);
  if (!addr.empty()) s.append(source.empty() ? " " : "->").append(addr);
  return s;
}

// rethrow_op: the error mechanism of every socket operation (conn, listener,
// packet_conn; TCP, UDP, Unix). Called inside a catch block of an operation,
// it rethrows the exception in flight with Go's net.OpError text:
//   try { ... } catch (...) { detail::rethrow_op("write", f, done); }
//   timeout_error      -> timeout_error("write tcp L->R: i/o timeout", written)
//   net::closed_error  -> closed_error("write tcp L->R: use of closed network connection", written)
//   net::error         -> net::error(same code, "write tcp L->R: " + its what(), written)
// Throw the errno of a system call as syscall_error(e, "write") inside the
// try, so that the cause reads "write: broken pipe" as in Go. Anything else
// (canceled_error, goroutine_exit, std::logic_error, std::bad_alloc) passes
// through untouched. written is bytes_written() (a write's progress; 0 for
// other operations). The text is op_error_text(op, net, source, addr).
[[noreturn]] inline void rethrow_op(std::string_view op, std::string_view net, std::string_view source, std::string_view addr,
                                    std::size_t written = 0) {
  try {
    throw;
  } catch (const timeout_error&) {
    throw timeout_error(op_error_text(op, net, source, addr) + ": i/o timeout", written);
  } catch (const net::closed_error&) {
    throw net::closed_error(op_error_text(op, net, source, addr) + ": use of closed network connection", written);
  } catch (const net::error& e) {
    throw net::error(e.code(), exact_text_t{}, op_error_text(op, net, source, addr) + ": " + e.what(), written);
  }
}

// pd_forget drops a stale poll_desc of a brand-new fd (an fd number closed
// with ::close instead of io::close, and now reused).
inline void pd_forget(int fd) {
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
}

// netfd: a socket shared by a conn or listener and the operations running on
// it. See the file comment. state packs who holds it: the closing bit (no
// new operation may start), the closer bit (a close() is in progress), the
// owner bit (the conn or listener object) and the number of operations in
// progress. Whoever's atomic step leaves state == closing (no holder left) frees
// it, closing fd first unless close() did (fd_closed).
struct netfd {
  static constexpr std::uint64_t closing = 1;  // close() or the owner's release began
  static constexpr std::uint64_t closer = 2;   // a close() is in progress: it keeps the netfd alive
  static constexpr std::uint64_t owner = 4;    // the conn or listener still holds it
  static constexpr std::uint64_t op = 8;       // one operation in progress (state / op of them)

  int fd;
  poll_desc* pd;
  std::atomic<std::uint64_t> state{owner};
  std::atomic<std::uint32_t> csema{0};  // close() waits here for the last operation to leave
  bool fd_closed = false;               // close() has closed fd; written before it drops the closer bit
  goro::mutex wmu;                      // serializes writes
  const char* net;                      // "tcp", "udp", "unix": the network its errors name; set once
  std::string laddr, raddr;             // set by the creator before it shares the netfd; raddr "" when unconnected
  std::string unlink_path;              // listen_unix: the socket file it created; set before the netfd is shared

  netfd(int f, poll_desc* p, const char* n) : fd(f), pd(p), net(n) {}
};

// rethrow_op for an operation on f (nullptr: a default-constructed or
// moved-from owner: only op is named): source f->laddr, addr f->raddr
// (nothing for a listener or an unconnected socket).
[[noreturn]] inline void rethrow_op(std::string_view op, const netfd* f, std::size_t written = 0) {
  if (f == nullptr) rethrow_op(op, {}, {}, {}, written);
  if (f->raddr.empty()) rethrow_op(op, f->net, {}, f->laddr, written);
  rethrow_op(op, f->net, f->laddr, f->raddr, written);
}

// new_netfd takes ownership of fd (closing it on failure); net names the
// network in its errors.
inline netfd* new_netfd(int fd, const char* net) {
  try {
    pd_forget(fd);
    return new netfd(fd, pd_get(fd, true), net);
  } catch (...) {
    io_close(fd);
    throw;
  }
}

// fd_sysclose closes fd, first removing the socket file of a Unix listener
// (Go: UnixListener.close unlinks, then closes). Whoever closes fd calls it, once.
inline int fd_sysclose(netfd* f) {
  if (!f->unlink_path.empty()) ::unlink(f->unlink_path.c_str());
  return io_close(f->fd);
}

// fd_io: one system call on f the netpoller's way (Go: the loops of
// poll.FD.Read / Write): prepare mode (closed_error, timeout_error), make the
// call, retry on EINTR, park until ready on EAGAIN, and throw
// syscall_error(errno, name) on anything else. call returns the system
// call's result (< 0 with errno set); fd_io returns it when >= 0. The caller
// holds an fd_ref.
template <class Call>
std::size_t fd_io(netfd* f, int mode, const char* name, Call&& call) {
  for (;;) {
    pd_prepare(f->pd, mode);
    ssize_t n = call();
    if (n >= 0) return static_cast<std::size_t>(n);
    int e = errno;
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) throw syscall_error(e, name);
    pd_wait(f->pd, mode, no_timer);
  }
}

inline void fd_incref(netfd* f) {
  if (f == nullptr) throw net::closed_error();
  std::uint64_t old = f->state.load(std::memory_order_relaxed);
  do {
    if ((old & netfd::closing) != 0) throw net::closed_error();
  } while (!f->state.compare_exchange_weak(old, old + netfd::op, std::memory_order_acquire, std::memory_order_relaxed));
}

// fd_destroy: nothing holds f any more (state == closing): close fd unless
// close() did, and free f.
inline void fd_destroy(netfd* f) noexcept {
  if (!f->fd_closed) fd_sysclose(f);
  delete f;
}

// fd_decref: an operation leaves. The last one out wakes a close() waiting for
// it, or, with no close() in progress and the owner gone, frees f.
inline void fd_decref(netfd* f) noexcept {
  rt_region rt;  // runtime code (semaphores, ready): deterministic mode under TSan, sanitizer.hpp
  std::uint64_t now = f->state.fetch_sub(netfd::op, std::memory_order_acq_rel) - netfd::op;
  if (now == netfd::closing) fd_destroy(f);
  else if ((now & ~netfd::owner) == (netfd::closing | netfd::closer)) semrelease(&f->csema);  // f lives until close() drops its bit
}

// fd_ref: an operation's reference (throws closed_error if f is closing).
class fd_ref {
 public:
  explicit fd_ref(netfd* f) : f_(f) { fd_incref(f); }
  ~fd_ref() { fd_decref(f_); }
  fd_ref(const fd_ref&) = delete;
  fd_ref& operator=(const fd_ref&) = delete;

 private:
  netfd* f_;
};

// fd_close_done: close() drops its closer bit; frees f if the owner has gone
// meanwhile and no operation is left.
inline void fd_close_done(netfd* f) noexcept {
  std::uint64_t now = f->state.fetch_and(~netfd::closer, std::memory_order_acq_rel) & ~netfd::closer;
  if (now == netfd::closing) fd_destroy(f);
}

// fd_close: close(): see the file comment. Throws closed_error if already
// closed. The closer bit keeps f alive to the end, even once the owner has
// gone: the goroutine whose call close() cancels may leave its scope, and
// destroy the conn, as soon as that call returns (issue 13).
inline void fd_close(netfd* f) {
  rt_region rt;  // runtime code (semaphores, ready): deterministic mode under TSan, sanitizer.hpp
  if (f == nullptr) throw net::closed_error();
  std::uint64_t old = f->state.load(std::memory_order_relaxed);
  do {
    if ((old & netfd::closing) != 0) throw net::closed_error();
  } while (!f->state.compare_exchange_weak(old, old | netfd::closing | netfd::closer, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
  if (old >= netfd::op) {  // operations in flight: wake them, wait until the last has left
    try {
      pd_evict(f->pd);
      semacquire(&f->csema, wait_reason::semacquire);
    } catch (...) {
      // Not waited (inside blocking<>, or goroutine_exit at shutdown): hand the
      // close over to the last holder. If no operation is left, the last one
      // has seen the closer bit and is releasing csema: take that release
      // (it is on its way, never parked), so that it is done with f.
      old = f->state.load(std::memory_order_relaxed);
      while (old >= netfd::op &&
             !f->state.compare_exchange_weak(old, old & ~netfd::closer, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      }
      if (old >= netfd::op) throw;  // the last operation, or the owner's release, closes fd and frees f
      while (!cansemacquire(&f->csema)) std::this_thread::yield();
      f->fd_closed = true;
      fd_sysclose(f);
      fd_close_done(f);
      throw;
    }
  }
  // No operation is left, and none can start: nobody else touches fd now.
  f->fd_closed = true;
  int e = fd_sysclose(f);
  fd_close_done(f);
  if (e != 0) throw syscall_error(e, "close");
}

// fd_release: the owner goes away (destructor, move-assignment): as close(),
// without waiting: the last holder closes fd and frees f.
inline void fd_release(netfd* f) noexcept {
  rt_region rt;  // runtime code (semaphores, ready): deterministic mode under TSan, sanitizer.hpp
  if (f == nullptr) return;
  std::uint64_t old = f->state.fetch_or(netfd::closing, std::memory_order_acq_rel);
  if ((old & netfd::closing) == 0 && old >= netfd::op) pd_evict(f->pd);  // operations still in flight: wake them (the owner bit keeps f)
  std::uint64_t now = f->state.fetch_and(~netfd::owner, std::memory_order_acq_rel) & ~netfd::owner;
  if (now == netfd::closing) fd_destroy(f);
}

inline constexpr std::size_t max_rw = std::size_t{1} << 30;  // Go: maxRW

}  // namespace detail

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_NETFD_HPP
