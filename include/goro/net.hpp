// goro/net.hpp — TCP on the netpoller: goro::net::conn, listener, listen,
// dial (Go: net's TCPConn / TCPListener over internal/poll.FD).
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
//
// Writes are serialized by a goro::mutex (one write() is never interleaved
// with another's bytes); reads need no lock (each read returns what it got).
// One goroutine may read while another writes.
#ifndef GORO_DETAIL_NET_HPP
#define GORO_DETAIL_NET_HPP

#include "chan.hpp"
#include "config.hpp"
#include "context.hpp"
#include "netpoll.hpp"
#include "park.hpp"
#include "select.hpp"
#include "sema.hpp"
#include "sync.hpp"
#include "time.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace net {
// error: a network failure carrying the OS errno (or a getaddrinfo code).
struct error : std::system_error {
  using std::system_error::system_error;
};
class conn;
class listener;
}  // namespace net

namespace detail {

// gai_category: getaddrinfo's error codes (EAI_*).
inline const std::error_category& gai_category() noexcept {
  struct category : std::error_category {
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int ev) const override { return ::gai_strerror(ev); }
  };
  static const category c;
  return c;
}

inline net::error net_error(int e, const std::string& what) { return net::error(e, std::generic_category(), what); }

struct sock_addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

// format_addr: "host:port", IPv6 as "[host]:port" (IPv4-mapped IPv6 as IPv4, like Go).
inline std::string format_addr(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN + 1] = {};
  if (sa->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    std::string port = std::to_string(ntohs(a->sin6_port));
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      ::inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host);
      return std::string(host) + ":" + port;
    }
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    std::string h(host);
    if (a->sin6_scope_id != 0) {
      char ifname[IF_NAMESIZE + 1] = {};
      if (::if_indextoname(a->sin6_scope_id, ifname) != nullptr) h += std::string("%") + ifname;
      else h += "%" + std::to_string(a->sin6_scope_id);
    }
    return "[" + h + "]:" + port;
  }
  return "?";
}

inline std::string sock_name(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc < 0) return "";
  return format_addr(reinterpret_cast<sockaddr*>(&ss));
}

// lookup_result: what one getaddrinfo call gave, already copied out of its
// list (so that an abandoned lookup leaves nothing to free).
struct lookup_result {
  int rc = 0;         // getaddrinfo's return
  int sys_errno = 0;  // errno, for EAI_SYSTEM
  std::vector<sock_addr> addrs;
};

inline lookup_result gai_lookup(const char* node, const std::string& port, addrinfo hints) {
  lookup_result r;
  addrinfo* res = nullptr;
  r.rc = ::getaddrinfo(node, port.c_str(), &hints, &res);
  r.sys_errno = errno;
  if (r.rc != 0) return r;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sock_addr a;
    std::memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    r.addrs.push_back(a);
  }
  ::freeaddrinfo(res);
  return r;
}

// gai_lookup_ctx: a name lookup that ctx may abandon. getaddrinfo cannot be
// interrupted, so it runs on a thread of its own, which delivers into a
// one-slot channel; the caller waits for that or for ctx's end, and on the
// latter returns at once (throws), leaving the thread to finish and its
// result to be freed with the channel.
inline lookup_result gai_lookup_ctx(const std::string& node, const std::string& port, addrinfo hints, const context& ctx) {
  chan<lookup_result> out(1);
  std::thread([node, port, hints, out]() mutable {
    lookup_result r = gai_lookup(node.c_str(), port, hints);
    out.try_send(std::move(r));  // one slot, one value: never blocks
  }).detach();
  std::optional<lookup_result> got;
  goro::select(recv_case(out, [&](std::optional<lookup_result> v) { got = std::move(v); }),
         recv_case(ctx.done(), [](std::optional<std::monostate>) {}));
  if (!got) ctx.throw_if_done();
  return std::move(*got);
}

// resolve parses "host:port" and resolves it: literals first (AI_NUMERICHOST),
// then names through getaddrinfo: with a context that can end, on a thread
// of its own (gai_lookup_ctx); else on this M ("localhost" and /etc/hosts
// names are quick). IPv4 addresses come first. An empty host is the wildcard
// address for listen and the local system for dial (Go).
inline std::vector<sock_addr> resolve(std::string_view addr, bool passive, const context* ctx = nullptr) {
  auto bad = [addr](const char* why) {
    return net::error(std::make_error_code(std::errc::invalid_argument),
                      "goro::net: address " + std::string(addr) + ": " + why);
  };
  std::string_view host, port;
  if (!addr.empty() && addr.front() == '[') {
    std::size_t end = addr.find(']');
    if (end == std::string_view::npos) throw bad("missing ']' in address");
    if (end + 1 == addr.size()) throw bad("missing port in address");
    if (addr[end + 1] != ':') throw bad("unexpected character after ']' in address");
    host = addr.substr(1, end - 1);
    port = addr.substr(end + 2);
  } else {
    std::size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos) throw bad("missing port in address");
    host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) throw bad("too many colons in address");
  }
  if (host.find_first_of("[]") != std::string_view::npos) throw bad("unexpected '[' or ']' in address");
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(std::string(port)) > 65535)
    throw bad("invalid port");

  std::string h(host), p(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST | (passive ? AI_PASSIVE : 0);
  const char* node = h.empty() ? (passive ? nullptr : "127.0.0.1") : h.c_str();
  lookup_result r = gai_lookup(node, p, hints);
  if (r.rc == EAI_NONAME && node != nullptr) {
    hints.ai_flags &= ~AI_NUMERICHOST;  // a name, not a literal
    bool may_end = ctx != nullptr && detail::ctx_access::node(*ctx) != nullptr;
    r = may_end ? gai_lookup_ctx(h, p, hints, *ctx) : gai_lookup(node, p, hints);
  }
  if (r.rc != 0) {
    std::error_code ec = r.rc == EAI_SYSTEM ? std::error_code(r.sys_errno, std::generic_category()) : std::error_code(r.rc, gai_category());
    throw net::error(ec, "goro::net: lookup " + (h.empty() ? std::string(addr) : h));
  }
  std::vector<sock_addr>& out = r.addrs;
  std::stable_partition(out.begin(), out.end(), [](const sock_addr& a) { return a.ss.ss_family == AF_INET; });
  if (out.empty()) throw net::error(std::make_error_code(std::errc::address_not_available), "goro::net: lookup " + h + ": no address");
  return std::move(out);
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
  std::string laddr, raddr;

  netfd(int f, poll_desc* p) : fd(f), pd(p) {}
};

// new_netfd takes ownership of fd (closing it on failure).
inline netfd* new_netfd(int fd) {
  try {
    pd_forget(fd);
    return new netfd(fd, pd_get(fd, true));
  } catch (...) {
    io_close(fd);
    throw;
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
  if (!f->fd_closed) io_close(f->fd);
  delete f;
}

// fd_decref: an operation leaves. The last one out wakes a close() waiting for
// it, or, with no close() in progress and the owner gone, frees f.
inline void fd_decref(netfd* f) noexcept {
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
      io_close(f->fd);
      fd_close_done(f);
      throw;
    }
  }
  // No operation is left, and none can start: nobody else touches fd now.
  f->fd_closed = true;
  int e = io_close(f->fd);
  fd_close_done(f);
  if (e != 0) throw net_error(e, "goro::net: close");
}

// fd_release: the owner goes away (destructor, move-assignment): as close(),
// without waiting: the last holder closes fd and frees f.
inline void fd_release(netfd* f) noexcept {
  if (f == nullptr) return;
  std::uint64_t old = f->state.fetch_or(netfd::closing, std::memory_order_acq_rel);
  if ((old & netfd::closing) == 0 && old >= netfd::op) pd_evict(f->pd);  // operations still in flight: wake them (the owner bit keeps f)
  std::uint64_t now = f->state.fetch_and(~netfd::owner, std::memory_order_acq_rel) & ~netfd::owner;
  if (now == netfd::closing) fd_destroy(f);
}

inline constexpr std::size_t max_rw = std::size_t{1} << 30;  // Go: maxRW

inline void set_nodelay(int fd) noexcept {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace detail

namespace net {

// conn: a TCP connection (Go: net.TCPConn). Move-only. A default-constructed
// or moved-from conn is closed: its operations throw closed_error.
class conn {
 public:
  conn() noexcept = default;
  conn(conn&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  conn& operator=(conn&& o) noexcept {
    if (this != &o) {
      detail::fd_release(f_);
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  ~conn() { detail::fd_release(f_); }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  // read reads up to buf.size() bytes; returns 0 at EOF (and for an empty
  // buf). Blocks (parks) until some data, EOF, an error (net::error with the
  // errno, e.g. ECONNRESET), the read deadline (timeout_error) or close
  // (closed_error).
  std::size_t read(std::span<std::byte> buf) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    detail::fd_ref ref(f_);
    if (buf.empty()) return 0;
    for (;;) {
      detail::pd_prepare(f_->pd, detail::pd_read);
      ssize_t n = ::recv(f_->fd, buf.data(), std::min(buf.size(), detail::max_rw), 0);
      if (n >= 0) return static_cast<std::size_t>(n);
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        detail::pd_wait(f_->pd, detail::pd_read, detail::no_timer);
        continue;
      }
      throw detail::net_error(e, "goro::net: read tcp " + f_->laddr + "->" + f_->raddr);
    }
  }

  // write writes all of buf (returns buf.size()), blocking while the socket
  // buffer is full. Errors as read; on an error some bytes may have been
  // written. Never raises SIGPIPE (a reset peer gives net::error).
  std::size_t write(std::span<const std::byte> buf) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    detail::fd_ref ref(f_);
    std::lock_guard<goro::mutex> lk(f_->wmu);
    std::size_t done = 0;
    while (done < buf.size()) {
      detail::pd_prepare(f_->pd, detail::pd_write);
      ssize_t n = ::send(f_->fd, buf.data() + done, std::min(buf.size() - done, detail::max_rw), MSG_NOSIGNAL);
      if (n >= 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        detail::pd_wait(f_->pd, detail::pd_write, detail::no_timer);
        continue;
      }
      throw detail::net_error(e, "goro::net: write tcp " + f_->laddr + "->" + f_->raddr);
    }
    return done;
  }

  // Deadlines (Go: SetDeadline): an operation blocked or started after t
  // throws timeout_error; a t in the past wakes the ones blocked now.
  // time_point::max() means no deadline. Any duration type; a deadline
  // beyond about 73 years saturates (park.hpp, deadline_ns).
  template <class Dur>
  void set_deadline(std::chrono::time_point<clock, Dur> t) {
    set_deadline_mask(detail::pd_mask_read | detail::pd_mask_write, detail::deadline_of(t));
  }
  template <class Dur>
  void set_read_deadline(std::chrono::time_point<clock, Dur> t) {
    set_deadline_mask(detail::pd_mask_read, detail::deadline_of(t));
  }
  template <class Dur>
  void set_write_deadline(std::chrono::time_point<clock, Dur> t) {
    set_deadline_mask(detail::pd_mask_write, detail::deadline_of(t));
  }

  // close wakes the goroutines blocked on this conn with closed_error, waits
  // for them to leave, then closes the fd. A second close throws closed_error.
  void close() { detail::fd_close(f_); }

  // local_addr / remote_addr: "host:port" ("[::1]:port" for IPv6).
  std::string local_addr() const {
    if (f_ == nullptr) throw closed_error();
    return f_->laddr;
  }
  std::string remote_addr() const {
    if (f_ == nullptr) throw closed_error();
    return f_->raddr;
  }

  // native_handle: the socket (for setsockopt); -1 if there is none.
  int native_handle() const noexcept { return f_ != nullptr ? f_->fd : -1; }

 private:
  friend class listener;
  friend conn dial(std::string_view addr, const context& ctx);
  explicit conn(detail::netfd* f) noexcept : f_(f) {}

  void set_deadline_mask(int mask, std::int64_t dl) {
    detail::fd_ref ref(f_);
    detail::pd_set_deadline(f_->pd, mask, dl);
  }

  // wait_connected: a non-blocking connect is in progress: wait for it and
  // return its errno (0: connected); ctx's end throws. Go: netFD.connect.
  int wait_connected(detail::ctx_node* ctx) {
    detail::fd_ref ref(f_);
    for (;;) {
      detail::pd_wait(f_->pd, detail::pd_write, detail::no_timer, ctx);
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(f_->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
      switch (err) {
        case EINPROGRESS:
        case EALREADY:
        case EINTR: continue;
        case EISCONN: return 0;
        case 0: {
          sockaddr_storage ss{};
          socklen_t sl = sizeof ss;
          if (::getpeername(f_->fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) return 0;
          continue;  // a spurious wake-up: not connected yet
        }
        default: return err;
      }
    }
  }

  detail::netfd* f_ = nullptr;
};

// listener: a TCP listener (Go: net.TCPListener). Move-only.
class listener {
 public:
  listener() noexcept = default;
  listener(listener&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  listener& operator=(listener&& o) noexcept {
    if (this != &o) {
      detail::fd_release(f_);
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  ~listener() { detail::fd_release(f_); }
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  // accept waits for the next connection. Out of file descriptors (EMFILE,
  // ENFILE, ENOBUFS, ENOMEM) it backs off, 5 ms doubling up to 1 s like Go's
  // net/http server, and retries: it keeps serving once fds are freed. Throws
  // closed_error when the listener is closed (also while it waits),
  // timeout_error past the listener's deadline, net::error otherwise.
  conn accept() {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    detail::fd_ref ref(f_);
    std::int64_t backoff = 0;
    for (;;) {
      detail::pd_prepare(f_->pd, detail::pd_read);
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int nfd = ::accept4(f_->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (nfd >= 0) {
        detail::set_nodelay(nfd);
        conn c(detail::new_netfd(nfd));
        c.f_->laddr = detail::sock_name(nfd, false);
        c.f_->raddr = detail::format_addr(reinterpret_cast<sockaddr*>(&ss));
        return c;
      }
      int e = errno;
      switch (e) {
        case EINTR:
        case ECONNABORTED: continue;  // Go retries these too
        case EAGAIN: detail::pd_wait(f_->pd, detail::pd_read, detail::no_timer); continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // Sleep in the netpoller (a close wakes it), not on the CPU.
          backoff = backoff == 0 ? 5'000'000 : std::min<std::int64_t>(2 * backoff, 1'000'000'000);
          detail::pd_wait(f_->pd, detail::pd_sleep, detail::nanotime() + backoff);
          continue;
        default: throw detail::net_error(e, "goro::net: accept tcp " + f_->laddr);
      }
    }
  }

  // addr: the address it listens on, "127.0.0.1:PORT" (the port picked when 0 was asked).
  std::string addr() const {
    if (f_ == nullptr) throw closed_error();
    return f_->laddr;
  }

  // close wakes a goroutine blocked in accept with closed_error and closes the socket.
  void close() { detail::fd_close(f_); }

  // set_deadline: accept's deadline (Go: TCPListener.SetDeadline); as conn's.
  template <class Dur>
  void set_deadline(std::chrono::time_point<clock, Dur> t) {
    detail::fd_ref ref(f_);
    detail::pd_set_deadline(f_->pd, detail::pd_mask_read, detail::deadline_of(t));
  }

  int native_handle() const noexcept { return f_ != nullptr ? f_->fd : -1; }

 private:
  friend listener listen(std::string_view addr);
  explicit listener(detail::netfd* f) noexcept : f_(f) {}
  detail::netfd* f_ = nullptr;
};

// listen: a TCP listener on addr, "host:port" (IPv4, "[IPv6]" or a name such
// as "localhost"; port 0 picks a free one). SO_REUSEADDR, like Go.
inline listener listen(std::string_view addr) {
  std::vector<detail::sock_addr> addrs = detail::resolve(addr, true);
  const detail::sock_addr& a = addrs.front();
  int fd = ::socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) throw detail::net_error(errno, "goro::net: listen tcp " + std::string(addr) + ": socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) < 0 || ::listen(fd, 4096) < 0) {
    int e = errno;
    ::close(fd);
    throw detail::net_error(e, "goro::net: listen tcp " + std::string(addr));
  }
  listener l(detail::new_netfd(fd));
  l.f_->laddr = detail::sock_name(fd, false);
  return l;
}

// dial connects to addr ("host:port") over TCP, trying each address of a
// name in turn; TCP_NODELAY is on (Go's default). The connect waits in the
// netpoller. With a context (Go: Dialer.DialContext): its end, during the
// name lookup (which is then left behind on its thread) or the connect,
// throws canceled_error or timeout_error at once and leaves no socket.
inline conn dial(std::string_view addr, const context& ctx) {
  detail::rt_region rt;
  ctx.throw_if_done();
  std::vector<detail::sock_addr> addrs = detail::resolve(addr, false, &ctx);
  int last = ECONNREFUSED;
  for (const detail::sock_addr& a : addrs) {
    int fd = ::socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) throw detail::net_error(errno, "goro::net: dial tcp " + std::string(addr) + ": socket");
    detail::set_nodelay(fd);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len);
    int e = rc == 0 ? 0 : errno;
    if (e != 0 && e != EINPROGRESS && e != EINTR && e != EALREADY) {
      ::close(fd);
      last = e;
      continue;
    }
    conn c(detail::new_netfd(fd));  // owns fd from here: closes it on any exit
    if (e != 0) e = c.wait_connected(detail::ctx_access::node(ctx));
    if (e != 0) {
      last = e;
      continue;
    }
    c.f_->laddr = detail::sock_name(fd, false);
    c.f_->raddr = detail::sock_name(fd, true);
    return c;
  }
  throw detail::net_error(last, "goro::net: dial tcp " + std::string(addr));
}

inline conn dial(std::string_view addr) { return dial(addr, context()); }

// dial with a timeout for the whole dial, lookup included (Go: DialTimeout):
// timeout_error once it passes. Saturates as every duration does.
template <class Rep, class Period>
conn dial(std::string_view addr, std::chrono::duration<Rep, Period> timeout) {
  cancel_handle h = with_timeout(context(), timeout);
  return dial(addr, h.ctx);  // h's end deletes the timer
}

}  // namespace net

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_NET_HPP
