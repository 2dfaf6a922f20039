// goro/udpsock.hpp — UDP on the netpoller: goro::net::packet_conn,
// listen_packet, dial_udp (Go: net's UDPConn, udpsock.go). The socket under a
// packet_conn is a netfd (netfd.hpp: its lifetime, close() and the operations'
// references), exactly as under a conn; addresses are ipsock.hpp's.
//
// A datagram is sent in one sendto or not at all, so writes need no lock (one
// datagram is never interleaved with another); reads need none either (each
// read takes one whole datagram). Any number of goroutines may read and write
// at once.
//
// Errors: every operation ends in detail::rethrow_op (netfd.hpp), as conn's
// do, with Go's net.OpError text: "read udp 127.0.0.1:5000: i/o timeout",
// "write udp 127.0.0.1:5000->127.0.0.1:9: sendto: message too long" (for
// write_to the address is the destination).
#ifndef GORO_DETAIL_UDPSOCK_HPP
#define GORO_DETAIL_UDPSOCK_HPP

#include "config.hpp"
#include "ipsock.hpp"
#include "netfd.hpp"
#include "netpoll.hpp"
#include "park.hpp"
#include "time.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace detail {

// udp_dest: the address of addrs that a socket of family can send to: the
// first of that family, else (an IPv6 socket) the first IPv4 one as
// IPv4-mapped IPv6 (Go: ipToSockaddr). len == 0 if there is none.
inline sock_addr udp_dest(const std::vector<sock_addr>& addrs, int family) {
  for (const sock_addr& a : addrs)
    if (a.ss.ss_family == family) return a;
  sock_addr out;
  if (family != AF_INET6) return out;
  for (const sock_addr& a : addrs) {
    if (a.ss.ss_family != AF_INET) continue;
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a.ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.ss);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = v4->sin_port;
    v6->sin6_addr.s6_addr[10] = 0xff;
    v6->sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&v6->sin6_addr.s6_addr[12], &v4->sin_addr, 4);
    out.len = sizeof(sockaddr_in6);
    return out;
  }
  return out;
}

}  // namespace detail

namespace net {

// packet_conn: a UDP socket (Go: net.UDPConn), bound by listen_packet or
// connected by dial_udp. Move-only. A default-constructed or moved-from
// packet_conn is closed: its operations throw closed_error.
class packet_conn {
 public:
  packet_conn() noexcept = default;
  packet_conn(packet_conn&& o) noexcept : f_(std::exchange(o.f_, nullptr)), family_(o.family_) {}
  packet_conn& operator=(packet_conn&& o) noexcept {
    if (this != &o) {
      detail::fd_release(f_);
      f_ = std::exchange(o.f_, nullptr);
      family_ = o.family_;
    }
    return *this;
  }
  ~packet_conn() { detail::fd_release(f_); }
  packet_conn(const packet_conn&) = delete;
  packet_conn& operator=(const packet_conn&) = delete;

  // read_from receives one datagram into buf and returns its size and its
  // sender ("host:port"). A datagram larger than buf is truncated to
  // buf.size() and the rest is dropped, without an error (Go on Linux); an
  // empty datagram gives 0, and so does an empty buf (which still takes a
  // datagram). Blocks (parks) until a datagram, an error (net::error), the
  // read deadline (timeout_error) or close (closed_error).
  std::pair<std::size_t, std::string> read_from(std::span<std::byte> buf) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    try {
      detail::fd_ref ref(f_);
      sockaddr_storage ss;
      socklen_t len;
      std::size_t n = detail::fd_io(f_, detail::pd_read, "recvfrom", [&] {
        ss = sockaddr_storage{};  // fresh for each try
        len = sizeof ss;
        return ::recvfrom(f_->fd, buf.data(), std::min(buf.size(), detail::max_rw), 0, reinterpret_cast<sockaddr*>(&ss), &len);
      });
      return {n, len > 0 ? detail::format_addr(reinterpret_cast<sockaddr*>(&ss)) : std::string()};
    } catch (...) {
      detail::rethrow_op("read", f_);
    }
  }

  // write_to sends buf as one datagram to addr ("host:port": a literal or a
  // name, resolved as dial does) and returns buf.size(); an empty buf sends
  // an empty datagram. Blocks while the socket buffer is full. A datagram too
  // big for the socket throws net::error (EMSGSIZE). On a connected
  // packet_conn (dial_udp) it throws net::error with EISCONN and Go's
  // ErrWriteToConnected text: use write. A bad address or a failed lookup
  // throws the resolver's error as it is. The errors name the destination:
  // the address sent to once addr is resolved, addr as given before.
  std::size_t write_to(std::span<const std::byte> buf, std::string_view addr) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    std::string dest(addr);
    bool resolving = false;
    try {
      detail::fd_ref ref(f_);
      if (!f_->raddr.empty())
        throw net::error(std::make_error_code(std::errc::already_connected), detail::exact_text_t{},
                         "use of WriteTo with pre-connected connection");
      // The addresses of a numeric port do not depend on the socket type: a
      // stream lookup gives the same ones.
      resolving = true;
      std::vector<detail::sock_addr> addrs = detail::resolve(addr, false);
      resolving = false;
      detail::sock_addr to = detail::udp_dest(addrs, family_);
      if (to.len == 0) {
        dest = detail::format_addr(reinterpret_cast<const sockaddr*>(&addrs.front().ss));
        throw net::error(std::make_error_code(std::errc::address_family_not_supported), detail::exact_text_t{},
                         "no address of the socket's family");
      }
      dest = detail::format_addr(reinterpret_cast<const sockaddr*>(&to.ss));
      return detail::fd_io(f_, detail::pd_write, "sendto", [&] {
        return ::sendto(f_->fd, buf.data(), buf.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to.ss), to.len);
      });
    } catch (...) {
      if (resolving) throw;  // the resolver's error, as dial and listen leave it
      if (f_ == nullptr) detail::rethrow_op("write", f_);
      detail::rethrow_op("write", f_->net, f_->laddr, dest);
    }
  }

  // read: read_from without the sender, for a connected packet_conn (on an
  // unconnected one it takes a datagram from anyone). An empty buf returns 0
  // at once (Go). On a connected socket a datagram the peer refused (ICMP port
  // unreachable) may make a later read throw net::error with ECONNREFUSED.
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

  // write sends buf as one datagram to the connected peer and returns
  // buf.size() (an empty buf sends an empty datagram). On an unconnected
  // packet_conn it throws net::error (EDESTADDRREQ). Errors as write_to.
  std::size_t write(std::span<const std::byte> buf) {
    detail::safe_point();  // a cooperative preemption point (sysmon)
    try {
      detail::fd_ref ref(f_);
      return detail::fd_io(f_, detail::pd_write, "write", [&] { return ::send(f_->fd, buf.data(), buf.size(), MSG_NOSIGNAL); });
    } catch (...) {
      detail::rethrow_op("write", f_);
    }
  }

  // Deadlines: as conn's (read_from / read, write_to / write).
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

  // close wakes the goroutines blocked on this packet_conn with closed_error,
  // waits for them to leave, then closes the fd. A second close throws
  // closed_error.
  void close() {
    try {
      detail::fd_close(f_);
    } catch (...) {
      detail::rethrow_op("close", f_);
    }
  }

  // local_addr: "host:port"; remote_addr: the peer of a connected
  // packet_conn, "" for an unconnected one.
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
  friend packet_conn listen_packet(std::string_view addr);
  friend packet_conn dial_udp(std::string_view addr);
  packet_conn(detail::netfd* f, int family) noexcept : f_(f), family_(family) {}

  void set_deadline_mask(int mask, std::int64_t dl) {
    try {
      if (f_ == nullptr) throw closed_error();  // said first, or g++ -O2 warns of fd_decref on null (a false positive)
      detail::fd_ref ref(f_);
      detail::pd_set_deadline(f_->pd, mask, dl);
    } catch (...) {
      detail::rethrow_op("set", f_);
    }
  }

  detail::netfd* f_ = nullptr;
  int family_ = AF_UNSPEC;  // AF_INET or AF_INET6: which destinations write_to can reach
};

// listen_packet: a UDP socket bound to addr, "host:port" (IPv4, "[IPv6]" or
// a name; port 0 picks a free one). SO_BROADCAST, like Go. As listen: an
// IPv6 socket has IPV6_V6ONLY off, so the wildcard (":port": [::] when IPv6
// is available, else 0.0.0.0) takes IPv4 datagrams too, and an address whose
// family this host lacks moves on to the next. Errors with Go's text:
// "listen udp 127.0.0.1:5000: bind: address already in use", "listen udp:
// address x: missing port in address".
inline packet_conn listen_packet(std::string_view addr) {
  std::vector<detail::sock_addr> addrs = detail::resolve_op("listen", "udp", addr, true);
  try {
    int e = EAFNOSUPPORT;
    const char* call = "socket";
    for (const detail::sock_addr& a : addrs) {
      call = "socket";
      int fd = ::socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
      if (fd < 0) {
        e = errno;
        if (e == EAFNOSUPPORT || e == EPROTONOSUPPORT) continue;
        break;
      }
      int one = 1, zero = 0;
      ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
      if (a.ss.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      call = "bind";
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) == 0) {
        packet_conn c(detail::new_netfd(fd, "udp"), a.ss.ss_family);
        c.f_->laddr = detail::sock_name(fd, false);
        return c;
      }
      e = errno;
      ::close(fd);
      if (e != EADDRNOTAVAIL && e != EAFNOSUPPORT) break;
    }
    throw detail::syscall_error(e, call);
  } catch (...) {
    detail::rethrow_op("listen", "udp", {}, addr);
  }
}

// dial_udp: a UDP socket connected to addr ("host:port"; an empty host is
// 127.0.0.1), trying each address of a name in turn (IPv4 first). Nothing is
// sent: a missing peer shows later, if at all, as ECONNREFUSED from a read.
// Errors as dial's: "dial udp 10.0.0.1:53: connect: network is unreachable"
// (the last address tried), "dial udp: lookup x.invalid: no such host".
inline packet_conn dial_udp(std::string_view addr) {
  std::vector<detail::sock_addr> addrs = detail::resolve_op("dial", "udp", addr, false);
  int last = EDESTADDRREQ;
  std::string last_addr(addr);
  for (const detail::sock_addr& a : addrs) {
    std::string to = detail::format_addr(reinterpret_cast<const sockaddr*>(&a.ss));
    try {
      int fd = ::socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
      if (fd < 0) throw detail::syscall_error(errno, "socket");
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
      int rc;
      do rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len);
      while (rc < 0 && errno == EINTR);
      if (rc < 0) {  // a datagram connect completes at once or fails (ENETUNREACH, ...)
        last = errno;
        last_addr = std::move(to);
        ::close(fd);
        continue;
      }
      packet_conn c(detail::new_netfd(fd, "udp"), a.ss.ss_family);
      c.f_->laddr = detail::sock_name(fd, false);
      c.f_->raddr = detail::sock_name(fd, true);
      if (c.f_->raddr.empty()) c.f_->raddr = to;
      return c;
    } catch (...) {
      detail::rethrow_op("dial", "udp", {}, to);
    }
  }
  try {
    throw detail::syscall_error(last, "connect");
  } catch (...) {
    detail::rethrow_op("dial", "udp", {}, last_addr);
  }
}

}  // namespace net

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_UDPSOCK_HPP
