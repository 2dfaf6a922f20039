// goro/ipsock.hpp — Internet addresses: "host:port" parsing (Go's
// SplitHostPort / JoinHostPort), formatting, and name lookups (Go: net's
// ipsock.go and lookup.go over getaddrinfo), net::lookup_host.
//
// Name lookups never hold a P. A literal ("127.0.0.1", "[::1]", "[fe80::1%lo]")
// is parsed at once (getaddrinfo with AI_NUMERICHOST does no I/O); a name goes
// to getaddrinfo, which may wait seconds for a DNS server and cannot be
// interrupted. Where a name lookup runs, and why (lookup_name):
//   - a goroutine (with or without a context): on a lookup thread of a small
//     pool, while the goroutine parks on a one-slot channel (and on ctx.done()
//     when ctx can end). The alternatives were weighed so:
//       * blocking<> on the goroutine's own M would hand the P off without a
//         thread switch, but it cannot be abandoned when ctx ends, run() waits
//         at shutdown for a goroutine inside the guard (a DNS timeout is
//         30 s), and getaddrinfo (NSS modules, the DNS client's buffers) would
//         run on the goroutine's stack, which may be as small as 16 KiB (Go
//         runs cgo calls on the system stack);
//       * a thread per lookup is abandonable but costs a clone per dial of a
//         name;
//       * the pool costs two thread hand-offs per lookup and no clone in
//         steady state; an abandoned lookup keeps its worker until
//         getaddrinfo returns and then only drops the copied-out result
//         (lookup_result: nothing of getaddrinfo's is left to free). A worker
//         idle for lookup_idle_ns exits: a live idle worker is a thread goro
//         did not create, which holds back deadlock reports (run.hpp,
//         checkdead), so it should not linger.
//   - a plain OS thread without a context that can end: on that thread (it
//     simply blocks, as any call there does). With such a context: through the
//     pool, the thread blocking in select on the result and ctx.done().
//   - deterministic mode: through the pool too (the lookup thread's stack),
//     the single thread waiting on a future: nothing else runs meanwhile and
//     virtual time stands still, so a lookup takes no virtual time and a
//     context cannot end during it; the schedule stays a function of the seed
//     (the answer itself is real I/O, like a socket's).
#ifndef GORO_DETAIL_IPSOCK_HPP
#define GORO_DETAIL_IPSOCK_HPP

#include "chan.hpp"
#include "config.hpp"
#include "context.hpp"
#include "netfd.hpp"
#include "select.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
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
#include <unistd.h>
#include <utility>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// gai_category: getaddrinfo's error codes (EAI_*). EAI_NONAME and EAI_NODATA
// read "no such host", as Go reports them (lookup nosuchhost.invalid: no such host).
inline const std::error_category& gai_category() noexcept {
  struct category : std::error_category {
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int ev) const override {
#ifdef EAI_NODATA
      if (ev == EAI_NODATA) return "no such host";
#endif
      if (ev == EAI_NONAME) return "no such host";
      return ::gai_strerror(ev);
    }
  };
  static const category c;
  return c;
}

struct sock_addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

// format_ip: the address of sa without the port ("127.0.0.1", "::1",
// "fe80::1%eth0"; IPv4-mapped IPv6 as IPv4, like Go).
inline std::string format_ip(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN + 1] = {};
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, host, sizeof host);
    return host;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      ::inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host);
      return host;
    }
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    std::string h(host);
    if (a->sin6_scope_id != 0) {
      char ifname[IF_NAMESIZE + 1] = {};
      if (::if_indextoname(a->sin6_scope_id, ifname) != nullptr) h += std::string("%") + ifname;
      else h += "%" + std::to_string(a->sin6_scope_id);
    }
    return h;
  }
  return "?";
}

// format_addr: "host:port", IPv6 as "[host]:port" (Go: JoinHostPort).
// AF_UNIX (unixsock.hpp): the path, an abstract name's leading NUL as '@', so
// an unnamed socket is "@" (Go on Linux); sa must be zeroed past the address
// (callers pass a zero-initialised sockaddr_storage).
inline std::string format_addr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return format_ip(sa) + ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port));
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    std::string port = std::to_string(ntohs(a->sin6_port));
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) return format_ip(sa) + ":" + port;
    return "[" + format_ip(sa) + "]:" + port;
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

// ---------------------------------------------------------------------------
// "host:port" (Go: SplitHostPort, JoinHostPort, parsePort).

// addr_error: Go's AddrError text, exactly: "address [::1: missing ']' in
// address" (std::errc::invalid_argument).
inline net::error addr_error(std::string_view addr, const char* why) {
  return net::error(std::make_error_code(std::errc::invalid_argument), exact_text_t{},
                    "address " + std::string(addr) + ": " + why);
}

// split_host_port splits "host:port", "[host]:port" or "[host%zone]:port"
// into host and port, as Go's SplitHostPort does (the same accepted forms and
// the same messages: "missing port in address", "too many colons in address",
// "missing ']' in address", "unexpected '[' in address", "unexpected ']' in
// address"). The host may be empty (":80"), the port too ("host:"). Throws
// net::error with std::errc::invalid_argument naming addr.
inline std::pair<std::string_view, std::string_view> split_host_port(std::string_view addr) {
  std::size_t i = addr.rfind(':');  // the port starts after the last colon
  if (i == std::string_view::npos) throw addr_error(addr, "missing port in address");
  std::string_view host;
  std::size_t j = 0, k = 0;  // no '[' before j, no ']' before k
  if (addr.front() == '[') {
    std::size_t end = addr.find(']');
    if (end == std::string_view::npos) throw addr_error(addr, "missing ']' in address");
    if (end + 1 == addr.size()) throw addr_error(addr, "missing port in address");
    if (end + 1 != i) {  // ']' is not followed by the last colon
      if (addr[end + 1] == ':') throw addr_error(addr, "too many colons in address");
      throw addr_error(addr, "missing port in address");
    }
    host = addr.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    host = addr.substr(0, i);
    if (host.find(':') != std::string_view::npos) throw addr_error(addr, "too many colons in address");
  }
  if (addr.find('[', j) != std::string_view::npos) throw addr_error(addr, "unexpected '[' in address");
  if (addr.find(']', k) != std::string_view::npos) throw addr_error(addr, "unexpected ']' in address");
  return {host, addr.substr(i + 1)};
}

// join_host_port: "host:port", or "[host]:port" when host has a colon or a
// percent sign (an IPv6 literal, a zone). Go: JoinHostPort.
inline std::string join_host_port(std::string_view host, std::string_view port) {
  if (host.find_first_of(":%") != std::string_view::npos) return "[" + std::string(host) + "]:" + std::string(port);
  return std::string(host) + ":" + std::string(port);
}

// parse_port: a decimal port, 0 to 65535; empty means 0 (as in Go). Service
// names ("http") are not looked up: they throw with a message that says so.
inline std::uint16_t parse_port(std::string_view addr, std::string_view port) {
  std::uint32_t n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') {
      bool name = std::any_of(port.begin(), port.end(), [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); });
      throw addr_error(addr, name ? "invalid port (a number from 0 to 65535; service names such as \"http\" are not looked up)"
                                  : "invalid port");
    }
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
    if (n > 65535) throw addr_error(addr, "invalid port");
  }
  return static_cast<std::uint16_t>(n);
}

// ---------------------------------------------------------------------------
// Name lookups (see the file comment).

// lookup_funcs: a name lookup and the free of its result, with getaddrinfo's
// and freeaddrinfo's signatures.
struct lookup_funcs {
  int (*lookup)(const char* node, const char* service, const addrinfo* hints, addrinfo** res);
  void (*free)(addrinfo* res);
};

// lookup_fns: an internal test seam (tests/lookup_test.cpp swaps in a slow
// or failing stand-in): what every lookup of a name calls (a literal's parse
// never does). Only tests change it, and only while no lookup is in flight; a
// lookup reads it once, when it is submitted, and frees its result with the
// free of that pair.
inline lookup_funcs lookup_fns{::getaddrinfo, ::freeaddrinfo};

// lookup_result: what one getaddrinfo call gave, already copied out of its
// list (so that an abandoned lookup leaves nothing to free).
struct lookup_result {
  int rc = 0;         // getaddrinfo's return
  int sys_errno = 0;  // errno, for EAI_SYSTEM
  std::vector<sock_addr> addrs;
};

// gai_lookup: one getaddrinfo call through fns, copied out (AF_INET and
// AF_INET6 entries only) and freed. service may be null.
inline lookup_result gai_lookup(const char* node, const char* service, const addrinfo& hints, lookup_funcs fns) {
  lookup_result r;
  addrinfo* res = nullptr;
  r.rc = fns.lookup(node, service, &hints, &res);
  // errno is read only when getaddrinfo says it set it; never written here
  // (in deterministic mode goroutines share the thread's errno, and a write
  // of ours would be a race for TSan between them).
  r.sys_errno = r.rc == EAI_SYSTEM ? errno : 0;
  if (r.rc != 0) return r;
  try {
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
      sock_addr a;
      std::memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
      a.len = ai->ai_addrlen;
      r.addrs.push_back(a);
    }
  } catch (...) {  // std::bad_alloc
    fns.free(res);
    throw;
  }
  fns.free(res);
  return r;
}

// lookup_job: one name lookup handed to the pool. Shared by the caller and the
// worker that runs it; immutable once submitted, but for abandoned.
struct lookup_job {
  std::string node;
  std::string service;  // empty: none (a null service)
  addrinfo hints{};
  lookup_funcs fns{};
  std::function<void(lookup_result&&)> deliver;  // the worker calls it once, with the result
  std::atomic<bool> abandoned{false};            // the caller has given up: a worker skips a job it has not begun
};

inline constexpr std::int64_t lookup_idle_ns = 1'000'000'000;  // an idle lookup thread exits after this
inline constexpr unsigned lookup_max_threads = 64;             // lookups beyond this many wait in the queue

// lookup_pool: the lookup threads. Process-wide and never destroyed (its
// threads may outlive static destructors); its threads are plain threads.
struct lookup_pool {
  std::mutex mu;
  std::condition_variable cv;                     // a job was queued
  std::deque<std::shared_ptr<lookup_job>> queue;  // mu: jobs no worker has taken
  unsigned threads = 0;                           // mu: workers alive
  unsigned idle = 0;                              // mu: workers waiting for a job
};

inline lookup_pool& the_lookup_pool() {
  static lookup_pool* p = new lookup_pool;
  return *p;
}

// lookup_worker: a lookup thread: runs queued jobs; exits after lookup_idle_ns
// without one.
inline void lookup_worker(lookup_pool* pl) {
  std::unique_lock<std::mutex> lk(pl->mu);
  for (;;) {
    if (pl->queue.empty()) {
      ++pl->idle;
      bool got = pl->cv.wait_for(lk, std::chrono::nanoseconds(lookup_idle_ns), [pl] { return !pl->queue.empty(); });
      --pl->idle;
      if (!got) {
        --pl->threads;
        return;
      }
    }
    std::shared_ptr<lookup_job> job = std::move(pl->queue.front());
    pl->queue.pop_front();
    lk.unlock();
    // acquire: pairs with the caller's release; a stale false only costs a lookup nobody reads.
    if (!job->abandoned.load(std::memory_order_acquire)) {
      try {
        job->deliver(gai_lookup(job->node.c_str(), job->service.empty() ? nullptr : job->service.c_str(), job->hints, job->fns));
      } catch (...) {  // std::bad_alloc copying the answer out
        lookup_result r;
        r.rc = EAI_MEMORY;
        job->deliver(std::move(r));
      }
    }
    job.reset();  // an abandoned job's result (and channel) is freed here
    lk.lock();
  }
}

// lookup_submit queues job, starting a worker when none is idle for it.
inline void lookup_submit(std::shared_ptr<lookup_job> job) {
  lookup_pool& pl = the_lookup_pool();
  std::lock_guard<std::mutex> lk(pl.mu);
  pl.queue.push_back(std::move(job));
  if (pl.queue.size() > pl.idle && pl.threads < lookup_max_threads) {
    try {
      std::thread(lookup_worker, &pl).detach();
      ++pl.threads;
      return;
    } catch (const std::system_error& e) {
      if (pl.threads == 0) {  // nobody would ever run it
        pl.queue.pop_back();
        throw net_error(e.code().value(), "goro::net: lookup: cannot start a lookup thread");
      }
    }
  }
  pl.cv.notify_one();
}

// lookup_name looks node up (a name, not a literal) where the file comment
// says. ctx: null, or a context whose end abandons the wait (throwing
// canceled_error / timeout_error at once).
inline lookup_result lookup_name(const std::string& node, const std::string& service, const addrinfo& hints, const context* ctx) {
  if (ctx != nullptr) ctx->throw_if_done();
  lookup_funcs fns = lookup_fns;
  bool may_end = ctx != nullptr && ctx_access::node(*ctx) != nullptr;
  if (!deterministic && !on_goroutine() && !may_end)  // a plain thread: it simply blocks
    return gai_lookup(node.c_str(), service.empty() ? nullptr : service.c_str(), hints, fns);
  auto job = std::make_shared<lookup_job>();
  job->node = node;
  job->service = service;
  job->hints = hints;
  job->fns = fns;
  if constexpr (deterministic) {
    auto done = std::make_shared<std::promise<lookup_result>>();
    std::future<lookup_result> got = done->get_future();
    job->deliver = [done](lookup_result&& r) { done->set_value(std::move(r)); };
    lookup_submit(job);
    return got.get();  // blocks the run's only thread: see the file comment
  } else {
    chan<lookup_result> out(1);
    job->deliver = [out](lookup_result&& r) { out.try_send(std::move(r)); };  // one slot, one value: never blocks
    lookup_submit(job);
    std::optional<lookup_result> got;
    try {
      if (may_end)
        goro::select(recv_case(out, [&](std::optional<lookup_result> v) { got = std::move(v); }),
                     recv_case(ctx->done(), [](std::optional<std::monostate>) {}));
      else
        got = out.recv();
    } catch (...) {  // goroutine_exit at shutdown, logic_error inside blocking<>
      job->abandoned.store(true, std::memory_order_release);
      throw;
    }
    if (!got) {
      job->abandoned.store(true, std::memory_order_release);
      ctx->throw_if_done();
    }
    return std::move(*got);
  }
}

inline net::error lookup_error(const lookup_result& r, const std::string& host) {
  std::error_code ec = r.rc == EAI_SYSTEM && r.sys_errno != 0 ? std::error_code(r.sys_errno, std::generic_category())
                                                              : std::error_code(r.rc, gai_category());
  return net::error(ec, exact_text_t{}, "lookup " + host + ": " + ec.message());
}

// parse_literal: host as an IP literal (zone included), with port; nullopt if
// it is not one. No I/O.
inline std::optional<sock_addr> parse_literal(const std::string& host, std::uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  std::string p = std::to_string(port);
  lookup_result r = gai_lookup(host.c_str(), p.c_str(), hints, lookup_funcs{::getaddrinfo, ::freeaddrinfo});
  if (r.rc != 0 || r.addrs.empty()) return std::nullopt;
  return r.addrs.front();
}

// ipv6_available: whether this host can bind an IPv6 socket to [::1] (Go:
// supportsIPv6). Probed once.
inline bool ipv6_available() {
  static const bool ok = [] {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return bound;
  }();
  return ok;
}

inline sock_addr any_or_loopback(int family, std::uint16_t port, bool loopback) {
  sock_addr a;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    a.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_addr = loopback ? in6addr_loopback : in6addr_any;
    a.len = sizeof(sockaddr_in6);
  }
  return a;
}

// resolve parses "host:port" (split_host_port, parse_port) and resolves it:
// a literal at once, a name through lookup_name (ctx: see there). IPv4
// addresses come first. An empty host is, for listen (passive), the wildcard:
// [::] first when IPv6 is available (listen makes it dual-stack, as Go does),
// then 0.0.0.0; for dial, the local system: 127.0.0.1, then [::1].
inline std::vector<sock_addr> resolve(std::string_view addr, bool passive, const context* ctx = nullptr) {
  auto [host_view, port_view] = split_host_port(addr);
  std::uint16_t port = parse_port(addr, port_view);
  std::vector<sock_addr> out;
  if (host_view.empty()) {
    if (passive) {
      if (ipv6_available()) out.push_back(any_or_loopback(AF_INET6, port, false));
      out.push_back(any_or_loopback(AF_INET, port, false));
    } else {
      out.push_back(any_or_loopback(AF_INET, port, true));
      if (ipv6_available()) out.push_back(any_or_loopback(AF_INET6, port, true));
    }
    return out;
  }
  std::string host(host_view);
  if (std::optional<sock_addr> lit = parse_literal(host, port, passive)) {
    out.push_back(*lit);
    return out;
  }
  lookup_result r;
  if (host.find_first_of(std::string_view(":\0", 2)) != std::string::npos) {
    r.rc = EAI_NONAME;  // not a literal, and cannot be a name
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    r = lookup_name(host, std::to_string(port), hints, ctx);
  }
  if (r.rc != 0) throw lookup_error(r, host);
  out = std::move(r.addrs);
  std::stable_partition(out.begin(), out.end(), [](const sock_addr& a) { return a.ss.ss_family == AF_INET; });
  if (out.empty())
    throw net::error(std::make_error_code(std::errc::address_not_available), exact_text_t{},
                     "lookup " + host + ": no suitable address found");
  return out;
}

// resolve_op: resolve for operation op on network net, failing as Go's
// net.OpError without an address ("dial tcp: lookup nosuchhost.invalid: no
// such host", "listen udp: address :x: invalid port"); a context's deadline
// reads "dial tcp addr: i/o timeout"; canceled_error passes through.
inline std::vector<sock_addr> resolve_op(const char* op, const char* net, std::string_view addr, bool passive,
                                         const context* ctx = nullptr) {
  try {
    return resolve(addr, passive, ctx);
  } catch (const timeout_error&) {
    rethrow_op(op, net, {}, addr);
  } catch (const net::error&) {
    rethrow_op(op, net, {}, {});
  }
}

}  // namespace detail

namespace net {

// lookup_host: the addresses of host, as strings ("127.0.0.1", "::1",
// "fe80::1%eth0"), IPv4 first (Go: net.LookupHost). A literal returns itself.
// A failure throws net::error "lookup <host>: <why>" (Go's DNSError) with a code in
// the getaddrinfo category (EAI_NONAME: "no such host"; an empty host too). The
// lookup never holds a P, and ctx's end throws canceled_error / timeout_error
// at once, leaving the lookup behind (ipsock.hpp's file comment).
inline std::vector<std::string> lookup_host(std::string_view host, const context& ctx = {}) {
  ctx.throw_if_done();
  std::string h(host);
  detail::lookup_result r;
  if (h.empty() || h.find('\0') != std::string::npos) {
    r.rc = EAI_NONAME;
    throw detail::lookup_error(r, h);
  }
  if (detail::parse_literal(h, 0, false)) return {h};
  if (h.find(':') != std::string::npos) {
    r.rc = EAI_NONAME;  // not a literal, and cannot be a name
    throw detail::lookup_error(r, h);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
  r = detail::lookup_name(h, std::string(), hints, &ctx);
  if (r.rc != 0) throw detail::lookup_error(r, h);
  std::stable_partition(r.addrs.begin(), r.addrs.end(), [](const detail::sock_addr& a) { return a.ss.ss_family == AF_INET; });
  std::vector<std::string> out;
  for (const detail::sock_addr& a : r.addrs) {
    std::string s = detail::format_ip(reinterpret_cast<const sockaddr*>(&a.ss));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  }
  if (out.empty()) {
    r.rc = EAI_NONAME;
    throw detail::lookup_error(r, h);
  }
  return out;
}

}  // namespace net

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_IPSOCK_HPP
