// goro/ipsock.hpp — Internet addresses: "host:port" parsing, formatting and
// name lookups (Go: net's ipsock.go and lookup.go over getaddrinfo).
//
// A lookup that may be abandoned (a context that can end) runs on a thread of
// its own: getaddrinfo cannot be interrupted, and on the M it would hold the
// P while a slow DNS server answers. Its result is copied out of getaddrinfo's
// list on that thread, so an abandoned lookup leaves nothing to free.
#ifndef GORO_DETAIL_IPSOCK_HPP
#define GORO_DETAIL_IPSOCK_HPP

#include "chan.hpp"
#include "config.hpp"
#include "context.hpp"
#include "netfd.hpp"
#include "select.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
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

struct sock_addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

// format_addr: "host:port", IPv6 as "[host]:port" (IPv4-mapped IPv6 as IPv4,
// like Go). AF_UNIX (unixsock.hpp): the path, an abstract name's leading NUL
// as '@', so an unnamed socket is "@" (Go on Linux); sa must be zeroed past
// the address (callers pass a zero-initialised sockaddr_storage).
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
  if (sa->sa_family == AF_UNIX) {
    const auto* a = reinterpret_cast<const sockaddr_un*>(sa);
    std::size_t n = 1;
    while (n < sizeof a->sun_path && a->sun_path[n] != '\0') ++n;
    if (a->sun_path[0] == '\0') return "@" + std::string(a->sun_path + 1, n - 1);
    return std::string(a->sun_path, n);
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

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_IPSOCK_HPP
