// goro/net.hpp — TCP on the netpoller: goro::net::conn, listener, listen,
// dial (Go: net's TCPConn / TCPListener). The socket under each is a netfd
// (netfd.hpp: its lifetime, close() and the operations' references);
// addresses and lookups are ipsock.hpp's.
//
// Writes are serialized by a goro::mutex (one write() is never interleaved
// with another's bytes); reads need no lock (each read returns what it got).
// One goroutine may read while another writes.
//
// Errors: every operation ends in detail::rethrow_op (netfd.hpp), which
// gives the exception Go's net.OpError text ("read tcp L->R: i/o timeout")
// and, for writes, bytes_written().
#ifndef GORO_DETAIL_NET_HPP
#define GORO_DETAIL_NET_HPP

#include "config.hpp"
#include "context.hpp"
#include "ipsock.hpp"
#include "netfd.hpp"
#include "netpoll.hpp"
#include "park.hpp"
#include "time.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/uio.h>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace detail {

inline constexpr std::size_t iov_max = 1024;  // Linux's IOV_MAX: iovecs per sendmsg

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
    try {
      detail::fd_ref ref(f_);
      if (buf.empty()) return 0;
      return detail::fd_io(f_, detail::pd_read, "read",
                           [&] { return ::recv(f_->fd, buf.data(), std::min(buf.size(), detail::max_rw), 0); });
    } catch (...) {
      detail::rethrow_op("read", f_);
    }
  }

  // write writes all of buf (returns buf.size()), blocking while the socket
  // buffer is full. Errors as read; the exception's bytes_written() says how
  // much of buf the kernel took before the failure, so that a caller can
  // resume from there (after a timeout, say). Never raises SIGPIPE (a reset
  // peer gives net::error).
  std::size_t write(std::span<const std::byte> buf) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    std::size_t done = 0;
    try {
      detail::fd_ref ref(f_);
      std::lock_guard<goro::mutex> lk(f_->wmu);
      while (done < buf.size())
        done += detail::fd_io(f_, detail::pd_write, "write", [&] {
          return ::send(f_->fd, buf.data() + done, std::min(buf.size() - done, detail::max_rw), MSG_NOSIGNAL);
        });
    } catch (...) {
      detail::rethrow_op("write", f_, done);
    }
    return done;
  }

  // write(bufs): the vectored write (Go: net.Buffers.WriteTo): all bytes of
  // bufs, in order, as one write: one sendmsg of up to IOV_MAX (1024)
  // buffers at a time, continuing after partial writes across buffer
  // boundaries; empty buffers are skipped. Serialized with the other writes
  // like write(buf); returns the total size. Errors as write(buf), with
  // bytes_written() the total taken before the failure.
  std::size_t write(std::span<const std::span<const std::byte>> bufs) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    std::size_t done = 0;
    try {
      detail::fd_ref ref(f_);
      std::lock_guard<goro::mutex> lk(f_->wmu);
      std::size_t i = 0, off = 0;  // the next byte to send: bufs[i][off]
      std::vector<iovec> iov;
      for (;;) {
        while (i < bufs.size() && off == bufs[i].size()) {
          ++i;
          off = 0;
        }
        if (i == bufs.size()) break;
        iov.clear();
        std::size_t total = 0;
        for (std::size_t j = i; j < bufs.size() && iov.size() < detail::iov_max && total < detail::max_rw; ++j) {
          std::size_t from = j == i ? off : 0;
          std::size_t len = std::min(bufs[j].size() - from, detail::max_rw - total);
          if (len == 0) continue;
          iov.push_back(iovec{const_cast<std::byte*>(bufs[j].data() + from), len});
          total += len;
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        std::size_t left = detail::fd_io(f_, detail::pd_write, "writev", [&] { return ::sendmsg(f_->fd, &msg, MSG_NOSIGNAL); });
        done += left;
        while (left > 0) {  // advance i/off past the bytes sent
          std::size_t k = std::min(left, bufs[i].size() - off);
          left -= k;
          off += k;
          if (off == bufs[i].size()) {
            ++i;
            off = 0;
          }
        }
      }
    } catch (...) {
      detail::rethrow_op("writev", f_, done);
    }
    return done;
  }

  // close_write shuts down the writing side (Go: TCPConn.CloseWrite): the
  // peer reads EOF once it has read what was sent; this side can still read,
  // and a later write throws net::error (EPIPE). closed_error on a closed conn.
  void close_write() {
    try {
      detail::fd_ref ref(f_);
      if (::shutdown(f_->fd, SHUT_WR) < 0) throw detail::syscall_error(errno, "shutdown");
    } catch (...) {
      detail::rethrow_op("close", f_);
    }
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
  void close() {
    try {
      detail::fd_close(f_);
    } catch (...) {
      detail::rethrow_op("close", f_);
    }
  }

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
  friend conn dial_unix(std::string_view path);  // unixsock.hpp
  explicit conn(detail::netfd* f) noexcept : f_(f) {}

  void set_deadline_mask(int mask, std::int64_t dl) {
    try {
      detail::fd_ref ref(f_);
      detail::pd_set_deadline(f_->pd, mask, dl);
    } catch (...) {
      detail::rethrow_op("set", f_);
    }
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
    try {
      return accept_loop();
    } catch (...) {
      detail::rethrow_op("accept", f_);
    }
  }

  // addr: the address it listens on, "127.0.0.1:PORT" (the port picked when 0 was asked).
  std::string addr() const {
    if (f_ == nullptr) throw closed_error();
    return f_->laddr;
  }

  // close wakes a goroutine blocked in accept with closed_error and closes the socket.
  void close() {
    try {
      detail::fd_close(f_);
    } catch (...) {
      detail::rethrow_op("close", f_);
    }
  }

  // set_deadline: accept's deadline (Go: TCPListener.SetDeadline); as conn's.
  template <class Dur>
  void set_deadline(std::chrono::time_point<clock, Dur> t) {
    try {
      detail::fd_ref ref(f_);
      detail::pd_set_deadline(f_->pd, detail::pd_mask_read, detail::deadline_of(t));
    } catch (...) {
      detail::rethrow_op("set", f_);
    }
  }

  int native_handle() const noexcept { return f_ != nullptr ? f_->fd : -1; }

 private:
  friend listener listen(std::string_view addr);
  friend listener listen_unix(std::string_view path);  // unixsock.hpp
  explicit listener(detail::netfd* f) noexcept : f_(f) {}

  conn accept_loop() {
    detail::fd_ref ref(f_);
    std::int64_t backoff = 0;
    for (;;) {
      detail::pd_prepare(f_->pd, detail::pd_read);
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int nfd = ::accept4(f_->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (nfd >= 0) {
        detail::set_nodelay(nfd);
        conn c(detail::new_netfd(nfd, f_->net));  // the listener's network: tcp or unix
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
        default: throw detail::syscall_error(e, "accept4");
      }
    }
  }

  detail::netfd* f_ = nullptr;
};

// listen: a TCP listener on addr, "host:port" (IPv4, "[IPv6]" or a name such
// as "localhost"; port 0 picks a free one). SO_REUSEADDR, like Go. An IPv6
// socket has IPV6_V6ONLY off (Go's "tcp"), so the wildcard (":port", which
// resolve gives as [::] first when IPv6 is available, or "[::]:port") takes
// IPv4 clients too. An address whose family this host lacks moves on to the
// next one (":port" without IPv6: 0.0.0.0); any other failure throws, with
// Go's text: "listen tcp 127.0.0.1:80: bind: address already in use",
// "listen tcp: address 127.0.0.1: missing port in address".
inline listener listen(std::string_view addr) {
  std::vector<detail::sock_addr> addrs = detail::resolve_op("listen", "tcp", addr, true);
  try {
    int e = EAFNOSUPPORT;
    const char* call = "socket";
    for (const detail::sock_addr& a : addrs) {
      call = "socket";
      int fd = ::socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
      if (fd < 0) {
        e = errno;
        if (e == EAFNOSUPPORT || e == EPROTONOSUPPORT) continue;
        break;
      }
      int one = 1, zero = 0;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (a.ss.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      call = "bind";
      int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len);
      if (rc == 0) {
        call = "listen";
        rc = ::listen(fd, 4096);
      }
      if (rc == 0) {
        listener l(detail::new_netfd(fd, "tcp"));
        l.f_->laddr = detail::sock_name(fd, false);
        return l;
      }
      e = errno;
      ::close(fd);
      if (e != EADDRNOTAVAIL && e != EAFNOSUPPORT) break;
    }
    throw detail::syscall_error(e, call);
  } catch (...) {
    detail::rethrow_op("listen", "tcp", {}, addr);
  }
}

// dial connects to addr ("host:port") over TCP, trying each address of a
// name in turn; TCP_NODELAY is on (Go's default). The connect waits in the
// netpoller. With a context (Go: Dialer.DialContext): its end, during the
// name lookup (which is then left behind on its lookup thread) or the connect,
// throws canceled_error or timeout_error at once and leaves no socket.
// Errors as Go's: "dial tcp 127.0.0.1:1: connect: connection refused" (the
// last address tried), "dial tcp 10.0.0.1:80: i/o timeout", "dial tcp:
// lookup nosuchhost.invalid: no such host"; canceled_error passes as it is.
inline conn dial(std::string_view addr, const context& ctx) {
  detail::rt_region rt;
  std::vector<detail::sock_addr> addrs;
  try {
    ctx.throw_if_done();
  } catch (const timeout_error&) {
    detail::rethrow_op("dial", "tcp", {}, addr);
  }
  addrs = detail::resolve_op("dial", "tcp", addr, false, &ctx);
  int last = ECONNREFUSED;
  std::string last_addr(addr);
  for (const detail::sock_addr& a : addrs) {
    std::string to = detail::format_addr(reinterpret_cast<const sockaddr*>(&a.ss));
    try {
      int fd = ::socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
      if (fd < 0) throw detail::syscall_error(errno, "socket");
      detail::set_nodelay(fd);
      int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len);
      int e = rc == 0 ? 0 : errno;
      if (e != 0 && e != EINPROGRESS && e != EINTR && e != EALREADY) {
        ::close(fd);
        last = e;
        last_addr = std::move(to);
        continue;
      }
      conn c(detail::new_netfd(fd, "tcp"));  // owns fd from here: closes it on any exit
      if (e != 0) e = c.wait_connected(detail::ctx_access::node(ctx));
      if (e != 0) {
        last = e;
        last_addr = std::move(to);
        continue;
      }
      c.f_->laddr = detail::sock_name(fd, false);
      c.f_->raddr = detail::sock_name(fd, true);
      return c;
    } catch (...) {
      detail::rethrow_op("dial", "tcp", {}, to);
    }
  }
  try {
    throw detail::syscall_error(last, "connect");
  } catch (...) {
    detail::rethrow_op("dial", "tcp", {}, last_addr);
  }
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
