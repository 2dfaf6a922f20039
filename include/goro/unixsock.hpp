// goro/unixsock.hpp — Unix domain stream sockets: listen_unix, dial_unix
// (Go: net's UnixListener / UnixConn for "unix", unixsock.go). They give the
// conn and listener of net.hpp, over an AF_UNIX socket; addresses are paths,
// or "@name" in Linux's abstract namespace.
//
// Errors: as TCP's (detail::rethrow_op, netfd.hpp), naming "unix": "dial
// unix /run/app.sock: connect: no such file or directory", "read unix
// @->/run/app.sock: use of closed network connection".
#ifndef GORO_DETAIL_UNIXSOCK_HPP
#define GORO_DETAIL_UNIXSOCK_HPP

#include "config.hpp"
#include "ipsock.hpp"
#include "net.hpp"
#include "netfd.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

namespace detail {

// unix_sockaddr: path as an AF_UNIX address. "@name" is name in the abstract
// namespace (sun_path is a NUL and the name, and the length counts exactly
// those bytes); "" is the unnamed address (bind then picks an abstract name:
// Linux's autobind). A path that does not fit sun_path, or one with a NUL
// byte, throws net::error with EINVAL, "invalid argument (...)" and the
// reason (Go: "invalid argument"); the operation's rethrow_op names the path.
inline sock_addr unix_sockaddr(std::string_view path) {
  sock_addr a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.ss);
  un->sun_family = AF_UNIX;
  bool abstract = !path.empty() && path.front() == '@';
  // A filesystem path keeps room for its terminating NUL.
  std::size_t cap = abstract ? sizeof un->sun_path : sizeof un->sun_path - 1;
  if (path.size() > cap)
    throw net::error(std::make_error_code(std::errc::invalid_argument), exact_text_t{},
                     "invalid argument (path of " + std::to_string(path.size()) + " bytes; a Unix socket takes at most " +
                         std::to_string(cap) + ")");
  if (path.find('\0') != std::string_view::npos)
    throw net::error(std::make_error_code(std::errc::invalid_argument), exact_text_t{},
                     "invalid argument (path contains a NUL byte)");
  std::memcpy(un->sun_path, path.data(), path.size());
  if (abstract) un->sun_path[0] = '\0';
  a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract || path.empty() ? 0 : 1));
  return a;
}

// unix_addr_text: path as error texts name it: a NUL byte as "\x00", so that
// what() (a C string) does not end there.
inline std::string unix_addr_text(std::string_view path) {
  std::string s;
  for (char ch : path) {
    if (ch == '\0') s += "\\x00";
    else s += ch;
  }
  return s;
}

}  // namespace detail

namespace net {

// listen_unix: a stream listener on the Unix socket path (a filesystem path,
// "@name" for Linux's abstract namespace, or "" for an abstract name the
// kernel picks). An existing file at path is an error (EADDRINUSE), as in Go.
// addr() gives path ("@name" for an abstract one). Closing the listener (or
// destroying it) removes the socket file it created, like Go's UnixListener;
// accepted conns are not affected. Errors as listen's: "listen unix
// @name: bind: address already in use".
inline listener listen_unix(std::string_view path) {
  try {
    detail::sock_addr a = detail::unix_sockaddr(path);
    bool file = !path.empty() && path.front() != '@';
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw detail::syscall_error(errno, "socket");
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) < 0) {
      int e = errno;
      ::close(fd);
      throw detail::syscall_error(e, "bind");
    }
    std::string spath(path);
    if (::listen(fd, 4096) < 0) {
      int e = errno;
      if (file) ::unlink(spath.c_str());
      ::close(fd);
      throw detail::syscall_error(e, "listen");
    }
    detail::netfd* f;
    try {
      f = detail::new_netfd(fd, "unix");  // closes fd on failure
    } catch (...) {
      if (file) ::unlink(spath.c_str());
      throw;
    }
    listener l(f);
    if (file) f->unlink_path = spath;  // before l is handed out: nothing else sees f yet
    f->laddr = detail::sock_name(fd, false);
    if (f->laddr.empty()) f->laddr = spath;
    return l;
  } catch (...) {
    detail::rethrow_op("listen", "unix", {}, detail::unix_addr_text(path));
  }
}

// dial_unix connects to the Unix stream socket path (a filesystem path or
// "@name"), waiting in the netpoller if the connect does not complete at
// once. A full backlog (EAGAIN) is an error, as in Go, like any other
// (ENOENT: no such file, ECONNREFUSED: nobody listens). The conn's
// remote_addr() is path; its local_addr() is "@" (unnamed, as Go prints it).
// Errors as dial's: "dial unix /run/app.sock: connect: connection refused"; an
// empty path gives EINVAL, "dial unix: missing address" (Go's text).
inline conn dial_unix(std::string_view path) {
  try {
    if (path.empty())
      throw net::error(std::make_error_code(std::errc::invalid_argument), detail::exact_text_t{}, "missing address");
    detail::sock_addr a = detail::unix_sockaddr(path);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw detail::syscall_error(errno, "socket");
    int e = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) == 0 ? 0 : errno;
    if (e != 0 && e != EINPROGRESS && e != EINTR && e != EALREADY) {
      ::close(fd);
      throw detail::syscall_error(e, "connect");
    }
    conn c(detail::new_netfd(fd, "unix"));  // owns fd from here: closes it on any exit
    if (e != 0) e = c.wait_connected(nullptr);
    if (e != 0) throw detail::syscall_error(e, "connect");
    c.f_->laddr = detail::sock_name(fd, false);
    c.f_->raddr = detail::sock_name(fd, true);
    if (c.f_->raddr.empty()) c.f_->raddr = std::string(path);
    return c;
  } catch (...) {
    detail::rethrow_op("dial", "unix", {}, detail::unix_addr_text(path));
  }
}

}  // namespace net

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_UNIXSOCK_HPP
