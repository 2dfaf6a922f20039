// Addresses and name lookups (docs/reference.md, "Addresses and name
// lookups"): "host:port" as Go's SplitHostPort / JoinHostPort parse it and
// the errors of bad forms, net::lookup_host, name lookups that never hold a P
// (a slow lookup stand-in while a ticker keeps ticking on one P), a context's
// end abandoning a lookup at once without leaking its result, run() not
// waiting for a lookup at shutdown, the dual-stack wildcard listener, IPv6
// zones, listen / close / listen on one port with a connection in TIME_WAIT,
// and dial(addr, timeout) against a full backlog.
//
// Nothing here contacts an outside address or a DNS server: names are
// "localhost" (/etc/hosts) or go to the stand-in installed through
// goro::detail::lookup_fns, the internal test seam of ipsock.hpp.
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines and threads report
// through atomics or test-scope variables.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ifaddrs.h>
#include <mutex>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string port_of(const std::string& addr) { return addr.substr(addr.rfind(':') + 1); }

// what_of: the message of the exception f throws ("" if none).
template <class F>
std::string what_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// addr_what: what() of the net::error a bad address throws (Go's AddrError).
std::string addr_what(const std::string& addr, const std::string& why) { return "address " + addr + ": " + why; }

// ---------------------------------------------------------------------------
// The lookup stand-in (goro::detail::lookup_fns). It stands for a slow DNS
// server: it waits `delay` (std::this_thread::sleep_for's role: the time the
// answer takes, not a synchronisation), or less if the test releases it, then
// answers 127.0.0.1 with the asked port, or fails with `fail` if set. Its
// free counts what it frees, so a test can see that an abandoned lookup's
// result was freed (and ASan's leak check would catch one that was not).
namespace standin {
std::mutex mu;
std::condition_variable cv;
bool released = false;                  // mu
std::chrono::milliseconds delay{200};   // set before a run, read by the stand-in
std::atomic<int> fail{0};               // an EAI_* code to fail with, or 0
std::atomic<int> calls{0}, returned{0}, answers{0}, frees{0};

struct answer {
  addrinfo ai{};
  sockaddr_in sa{};
};

int lookup(const char* /*node*/, const char* service, const addrinfo* hints, addrinfo** res) {
  calls.fetch_add(1);
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, delay, [] { return released; });
  }
  int rc = fail.load();
  if (rc == 0) {
    auto* a = new answer;
    a->sa.sin_family = AF_INET;
    a->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sa.sin_port = htons(static_cast<std::uint16_t>(service != nullptr ? std::atoi(service) : 0));
    a->ai.ai_family = AF_INET;
    a->ai.ai_socktype = hints->ai_socktype != 0 ? hints->ai_socktype : SOCK_STREAM;
    a->ai.ai_protocol = IPPROTO_TCP;
    a->ai.ai_addrlen = sizeof a->sa;
    a->ai.ai_addr = reinterpret_cast<sockaddr*>(&a->sa);
    *res = &a->ai;
    answers.fetch_add(1);
  }
  returned.fetch_add(1);
  return rc;
}

void free_answer(addrinfo* ai) {
  frees.fetch_add(1);
  delete reinterpret_cast<answer*>(ai);  // ai is answer's first member
}

void release() {
  std::lock_guard<std::mutex> lk(mu);
  released = true;
  cv.notify_all();
}

// scope installs the stand-in for a test and puts getaddrinfo back at its end,
// once every stand-in call has returned (waiting at most 10 s).
struct scope {
  explicit scope(std::chrono::milliseconds d, int fail_with = 0) {
    released = false;
    delay = d;
    fail = fail_with;
    calls = returned = answers = frees = 0;
    goro::detail::lookup_fns = {&lookup, &free_answer};
  }
  ~scope() {
    release();
    wait_all_returned();
    goro::detail::lookup_fns = {::getaddrinfo, ::freeaddrinfo};
  }
  // wait_all_returned: every call has returned and every answer was freed
  // (an abandoned lookup finishes on its lookup thread after the test moved on).
  static bool wait_all_returned() {
    auto until = std::chrono::steady_clock::now() + 10s;
    while (returned.load() != calls.load() || frees.load() != answers.load()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::yield();
    }
    return true;
  }
};
}  // namespace standin

// ticking: a goroutine that counts the ticks of a 10 ms ticker until stop is closed.
struct ticking {
  std::atomic<int> ticks{0};
  goro::chan<int> stop;
  void run() {
    goro::ticker t(10ms);
    for (bool done = false; !done;)
      goro::select(goro::recv_case(t.c(), [&](std::optional<goro::clock::time_point>) { ticks.fetch_add(1); }),
                   goro::recv_case(stop, [&](std::optional<int>) { done = true; }));
  }
};

}  // namespace

// Go: TestSplitHostPort, TestJoinHostPort (ip_test.go), the same table.
TEST_CASE("lookup: split_host_port and join_host_port as Go's", "[lookup][addr]") {
  struct ok_case {
    const char* hostport;
    const char* host;
    const char* port;
  };
  const ok_case ok[] = {
      {"localhost:http", "localhost", "http"},
      {"localhost:80", "localhost", "80"},
      {"localhost%lo0:http", "localhost%lo0", "http"},
      {"localhost%lo0:80", "localhost%lo0", "80"},
      {"[localhost%lo0]:http", "localhost%lo0", "http"},
      {"[localhost%lo0]:80", "localhost%lo0", "80"},
      {"127.0.0.1:http", "127.0.0.1", "http"},
      {"127.0.0.1:80", "127.0.0.1", "80"},
      {"[::1]:http", "::1", "http"},
      {"[::1]:80", "::1", "80"},
      {"[::1%lo0]:http", "::1%lo0", "http"},
      {"[::1%lo0]:80", "::1%lo0", "80"},
      {":http", "", "http"},
      {":80", "", "80"},
      {"golang.org:", "golang.org", ""},
      {"127.0.0.1:", "127.0.0.1", ""},
      {"[::1]:", "::1", ""},
      {"golang.org:https%foo", "golang.org", "https%foo"},
  };
  for (const ok_case& c : ok) {
    INFO(c.hostport);
    auto [host, port] = goro::detail::split_host_port(c.hostport);
    CHECK(host == c.host);
    CHECK(port == c.port);
  }
  struct bad_case {
    const char* hostport;
    const char* err;
  };
  const bad_case bad[] = {
      {"golang.org", "missing port in address"},
      {"127.0.0.1", "missing port in address"},
      {"[::1]", "missing port in address"},
      {"[fe80::1%lo0]", "missing port in address"},
      {"[localhost%lo0]", "missing port in address"},
      {"localhost%lo0", "missing port in address"},
      {"::1", "too many colons in address"},
      {"fe80::1%lo0", "too many colons in address"},
      {"fe80::1%lo0:80", "too many colons in address"},
      {"[foo:bar]", "missing port in address"},
      {"[foo:bar]baz", "missing port in address"},
      {"[foo]bar:baz", "missing port in address"},
      {"[foo]:[bar]:baz", "too many colons in address"},
      {"[foo]:[bar]baz", "unexpected '[' in address"},
      {"foo[bar]:baz", "unexpected '[' in address"},
      {"foo]bar:baz", "unexpected ']' in address"},
      {"[::1:80", "missing ']' in address"},
      {"", "missing port in address"},
  };
  for (const bad_case& c : bad) {
    INFO(c.hostport);
    std::string what;
    bool inval = false;
    try {
      goro::detail::split_host_port(c.hostport);
    } catch (const goro::net::error& e) {
      what = e.what();
      inval = e.code() == std::errc::invalid_argument;
    }
    CHECK(inval);
    CHECK(what == addr_what(c.hostport, c.err));
  }
  struct join_case {
    const char* host;
    const char* port;
    const char* hostport;
  };
  const join_case joins[] = {
      {"localhost", "http", "localhost:http"},
      {"localhost", "80", "localhost:80"},
      {"localhost%lo0", "80", "[localhost%lo0]:80"},  // Go brackets a zone
      {"127.0.0.1", "80", "127.0.0.1:80"},
      {"::1", "80", "[::1]:80"},
      {"::1%lo0", "80", "[::1%lo0]:80"},
      {"", "80", ":80"},
      {"::1", "", "[::1]:"},
  };
  for (const join_case& c : joins) CHECK(goro::detail::join_host_port(c.host, c.port) == c.hostport);
}

TEST_CASE("lookup: bad addresses and ports give Go's messages from listen, dial and lookup_host", "[lookup][addr]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::pair<std::string, std::string>> got;  // (what was tried, what() it threw)
  goro::run(
      [&] {
        for (const char* a : {"::1", "[::1", "[::1]", "foo[bar]:80", "foo]bar:80", "127.0.0.1:99999", "127.0.0.1:-1", ":http",
                              "localhost:8x"}) {
          got.emplace_back(std::string("listen ") + a, what_of([&] { goro::net::listen(a); }));
          got.emplace_back(std::string("dial ") + a, what_of([&] { goro::net::dial(a); }));
        }
        got.emplace_back("lookup_host empty", what_of([] { goro::net::lookup_host(""); }));
        got.emplace_back("lookup_host not an IPv6 literal", what_of([] { goro::net::lookup_host("fe80::zz"); }));
      },
      goro::config{.procs = procs});
  auto find = [&](const std::string& key) {
    for (auto& [k, w] : got)
      if (k == key) return w;
    return std::string("(not tried)");
  };
  // Go: "listen tcp: address ::1: too many colons in address" (an OpError
  // without an address around the AddrError).
  for (const char* verb : {"listen ", "dial "}) {
    std::string v(verb), op = v + "tcp: ";
    CHECK(find(v + "::1") == op + addr_what("::1", "too many colons in address"));
    CHECK(find(v + "[::1") == op + addr_what("[::1", "missing ']' in address"));
    CHECK(find(v + "[::1]") == op + addr_what("[::1]", "missing port in address"));
    CHECK(find(v + "foo[bar]:80") == op + addr_what("foo[bar]:80", "unexpected '[' in address"));
    CHECK(find(v + "foo]bar:80") == op + addr_what("foo]bar:80", "unexpected ']' in address"));
    CHECK(find(v + "127.0.0.1:99999") == op + addr_what("127.0.0.1:99999", "invalid port"));
    CHECK(find(v + "127.0.0.1:-1") == op + addr_what("127.0.0.1:-1", "invalid port"));
    CHECK(find(v + ":http").find("service names such as \"http\" are not looked up") != std::string::npos);
    CHECK(find(v + "localhost:8x").find(op + "address localhost:8x: invalid port") == 0);
  }
  CHECK(find("lookup_host empty") == "lookup : no such host");  // Go: "lookup : no such host"
  CHECK(find("lookup_host not an IPv6 literal") == "lookup fe80::zz: no such host");
}

// Go: TestLookupLocalhost-like (lookup_test.go): "localhost" answers from
// /etc/hosts (never a DNS server); literals return themselves; IPv4 first.
TEST_CASE("lookup: lookup_host of localhost and of literals, from goroutines and a plain thread", "[lookup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::string> local, local_ctx, v4, v6, zoned, from_thread, from_thread_ctx;
  goro::run(
      [&] {
        local = goro::net::lookup_host("localhost");
        auto [ctx, cancel] = goro::with_timeout(goro::context(), 1h);
        local_ctx = goro::net::lookup_host("localhost", ctx);
        v4 = goro::net::lookup_host("127.0.0.1");
        v6 = goro::net::lookup_host("::1");
        zoned = goro::net::lookup_host("fe80::1%lo");
      },
      goro::config{.procs = procs});
  std::thread([&] {
    from_thread = goro::net::lookup_host("localhost");
    auto [ctx, cancel] = goro::with_cancel(goro::context());
    from_thread_ctx = goro::net::lookup_host("localhost", ctx);
  }).join();
  for (const auto* r : {&local, &local_ctx, &from_thread, &from_thread_ctx}) {
    REQUIRE(!r->empty());
    bool loopback = std::find(r->begin(), r->end(), "127.0.0.1") != r->end() || std::find(r->begin(), r->end(), "::1") != r->end();
    CHECK(loopback);
    bool v4_first = true, seen_v6 = false;
    for (const std::string& a : *r) {
      if (a.find(':') != std::string::npos) seen_v6 = true;
      else if (seen_v6) v4_first = false;
    }
    CHECK(v4_first);
  }
  CHECK(v4 == std::vector<std::string>{"127.0.0.1"});
  CHECK(v6 == std::vector<std::string>{"::1"});
  CHECK(zoned == std::vector<std::string>{"fe80::1%lo"});
}

// Go: TestLookupHost-like failures, through the stand-in (no real DNS):
// Go's text "lookup nosuchhost.invalid: no such host", the code in the
// getaddrinfo category; other getaddrinfo errors keep their own text.
TEST_CASE("lookup: a failed lookup names the host, with Go's text and the getaddrinfo code", "[lookup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string host_what, dial_what, again_what, listen_what;
  std::error_code host_code, dial_code, again_code;
  {
    standin::scope s(0ms, EAI_NONAME);
    goro::run(
        [&] {
          try {
            goro::net::lookup_host("nosuchhost.invalid");
          } catch (const goro::net::error& e) {
            host_what = e.what();
            host_code = e.code();
          }
          try {
            goro::net::dial("nosuchhost.invalid:80", 5s);
          } catch (const goro::net::error& e) {
            dial_what = e.what();
            dial_code = e.code();
          }
          listen_what = what_of([] { goro::net::listen("nosuchhost.invalid:0"); });
          standin::fail = EAI_AGAIN;
          try {
            goro::net::lookup_host("flaky.invalid");
          } catch (const goro::net::error& e) {
            again_what = e.what();
            again_code = e.code();
          }
        },
        goro::config{.procs = procs});
    CHECK(standin::calls.load() == 4);
  }
  CHECK(host_what == "lookup nosuchhost.invalid: no such host");  // Go's DNSError
  CHECK(host_code == std::error_code(EAI_NONAME, goro::detail::gai_category()));
  CHECK(dial_what == "dial tcp: lookup nosuchhost.invalid: no such host");
  CHECK(dial_code == std::error_code(EAI_NONAME, goro::detail::gai_category()));
  CHECK(listen_what == "listen tcp: lookup nosuchhost.invalid: no such host");
  CHECK(again_what == std::string("lookup flaky.invalid: ") + ::gai_strerror(EAI_AGAIN));
  CHECK(again_code == std::error_code(EAI_AGAIN, goro::detail::gai_category()));
}

// A lookup that takes 200 ms (the stand-in) does not hold the P: on one P a
// ticker goroutine keeps ticking meanwhile (it would not tick at all if the
// lookup held the only P). Through dial(addr), dial(addr, ctx) and lookup_host.
TEST_CASE("lookup: a slow name lookup does not stop a ticker goroutine", "[lookup][threaded]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int ticks_dial = -1, ticks_dial_ctx = -1, ticks_lookup = -1;
  std::string echoed;
  std::vector<std::string> looked_up;
  {
    standin::scope s(200ms);
    goro::run(
        [&] {
          goro::net::listener ln = goro::net::listen("127.0.0.1:0");
          std::string port = port_of(ln.addr());
          goro::wait_group server;
          server.go([&] {
            for (int i = 0; i < 2; ++i) {
              goro::net::conn c = ln.accept();
              c.write(as_bytes(std::string("ok")));
            }
          });
          ticking tk;
          goro::wait_group wg;
          wg.go([&] { tk.run(); });
          while (tk.ticks.load() == 0) goro::yield();  // the ticker runs

          int t0 = tk.ticks.load();
          goro::net::conn c = goro::net::dial("slow.test:" + port);
          ticks_dial = tk.ticks.load() - t0;
          std::byte buf[2];
          if (c.read(buf) == 2) echoed = "ok";

          auto [ctx, cancel] = goro::with_timeout(goro::context(), 1h);
          t0 = tk.ticks.load();
          goro::net::conn c2 = goro::net::dial("slow.test:" + port, ctx);
          ticks_dial_ctx = tk.ticks.load() - t0;

          t0 = tk.ticks.load();
          looked_up = goro::net::lookup_host("slow.test");
          ticks_lookup = tk.ticks.load() - t0;

          tk.stop.close();
          wg.wait();
          server.wait();
        },
        goro::config{.procs = procs});
    CHECK(standin::calls.load() == 3);
  }
  CHECK(standin::frees.load() == 3);
  INFO("ticks during 200 ms lookups: " << ticks_dial << ", " << ticks_dial_ctx << ", " << ticks_lookup);
  CHECK(ticks_dial >= 5);
  CHECK(ticks_dial_ctx >= 5);
  CHECK(ticks_lookup >= 5);
  CHECK(echoed == "ok");
  CHECK(looked_up == std::vector<std::string>{"127.0.0.1"});
}

// A context's end during the lookup returns at once (the stand-in is still
// inside its lookup when the call has thrown) and leaves the lookup behind;
// its answer is freed once it finishes. From goroutines and from a plain thread.
TEST_CASE("lookup: a context's end abandons a running lookup at once and its result is freed", "[lookup][context][threaded]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool dial_canceled = false, lookup_timed_out = false, thread_canceled = false;
  bool dial_before_answer = false, lookup_before_answer = false, thread_before_answer = false;
  double dial_secs = -1, lookup_secs = -1;
  int fds_before = goro_test::open_fd_count();
  {
    standin::scope s(10s);  // the stand-in answers only when released (or after 10 s)
    goro::run(
        [&] {
          // dial(addr, ctx), cancelled while the lookup runs.
          auto [ctx, cancel] = goro::with_cancel(goro::context());
          goro::wait_group wg;
          std::atomic<bool> canceled{false};
          wg.go([&, c = ctx] {
            try {
              goro::net::dial("slow.test:1", c);
            } catch (const goro::canceled_error&) {
              canceled = true;
            }
          });
          while (standin::calls.load() < 1) goro::yield();  // the lookup runs
          auto t0 = std::chrono::steady_clock::now();
          cancel();
          wg.wait();
          dial_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          dial_canceled = canceled;
          dial_before_answer = standin::returned.load() == 0;

          // lookup_host(host, ctx) with a deadline.
          auto [dl, cancel_dl] = goro::with_timeout(goro::context(), 50ms);
          t0 = std::chrono::steady_clock::now();
          try {
            goro::net::lookup_host("slow.test", dl);
          } catch (const goro::timeout_error&) {
            lookup_timed_out = true;
          }
          lookup_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          lookup_before_answer = standin::returned.load() == 0;
        },
        goro::config{.procs = procs});

    // A plain OS thread with a context: it blocks, and the context still ends the wait.
    std::thread([&] {
      auto [ctx, cancel] = goro::with_cancel(goro::context());
      std::thread canceller([&, c = cancel] {
        while (standin::calls.load() < 3) std::this_thread::yield();
        c();
      });
      try {
        goro::net::lookup_host("slow.test", ctx);
      } catch (const goro::canceled_error&) {
        thread_canceled = true;
      }
      thread_before_answer = standin::returned.load() == 0;
      canceller.join();
    }).join();
    CHECK(standin::calls.load() == 3);
    CHECK(standin::frees.load() == 0);  // nothing has answered yet
    standin::release();
    CHECK(standin::scope::wait_all_returned());
  }
  CHECK(standin::answers.load() == 3);
  CHECK(standin::frees.load() == 3);  // every abandoned answer was freed
  CHECK(dial_canceled);
  CHECK(dial_before_answer);
  CHECK(dial_secs < 2.0);  // generous: the stand-in would take 10 s
  CHECK(lookup_timed_out);
  CHECK(lookup_before_answer);
  CHECK(lookup_secs < 2.0);
  CHECK(thread_canceled);
  CHECK(thread_before_answer);
  CHECK(goro_test::open_fd_count() == fds_before);
}

// run() does not wait for a lookup at shutdown: a goroutine waiting for one is
// unwound as any parked goroutine is, and the lookup finishes on its thread.
TEST_CASE("lookup: run returns at once when main returns while a goroutine waits for a lookup", "[lookup][shutdown][threaded]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> unwound{0};
  double secs = -1;
  {
    standin::scope s(10s);
    auto t0 = std::chrono::steady_clock::now();
    goro::run(
        [&] {
          for (int i = 0; i < 2; ++i)
            goro::go([&, i] {
              struct on_unwind {
                std::atomic<int>& n;
                ~on_unwind() { n.fetch_add(1); }
              } guard{unwound};
              goro::cancel_handle h = goro::with_cancel(goro::context());
              if (i == 0) goro::net::lookup_host("slow.test");  // waits on the answer alone
              else goro::net::dial("slow.test:1", h.ctx);        // on the answer or h's end
            });
          while (standin::calls.load() < 2) goro::yield();
        },
        goro::config{.procs = procs});
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(standin::returned.load() == 0);  // both lookups still running
    standin::release();
    CHECK(standin::scope::wait_all_returned());
  }
  CHECK(unwound.load() == 2);
  CHECK(secs < 5.0);  // generous: the lookups would take 10 s
  CHECK(standin::frees.load() == 2);
}

// Go: TestDualStackTCPListener-like. listen(":0") is the wildcard, [::] with
// IPV6_V6ONLY off where IPv6 is available: IPv4 and IPv6 clients both
// connect, and dial(":port") dials the local system.
TEST_CASE("lookup: listen(\":0\") takes IPv4 and IPv6 clients", "[lookup][dualstack]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool have_v6 = goro::detail::ipv6_available();
  std::string laddr;
  std::vector<std::string> remotes;
  std::string err;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen(":0");
        laddr = ln.addr();
        std::string port = port_of(laddr);
        std::vector<std::string> targets = {"127.0.0.1:" + port, ":" + port, "localhost:" + port};
        if (have_v6) targets.push_back("[::1]:" + port);
        goro::wait_group server;
        server.go([&] {
          for (std::size_t i = 0; i < targets.size(); ++i) {
            goro::net::conn c = ln.accept();
            remotes.push_back(c.remote_addr());
            c.write(as_bytes(std::string("x")));
          }
        });
        for (const std::string& t : targets) {
          try {
            goro::net::conn c = goro::net::dial(t, 5s);
            std::byte b[1];
            if (c.read(b) != 1) err += t + ": no data; ";
          } catch (const std::exception& e) {
            err += t + ": " + e.what() + "; ";
          }
        }
        server.wait();
      },
      goro::config{.procs = procs});
  INFO(err);
  CHECK(err.empty());
  if (!have_v6) {
    WARN("IPv6 not available: listen(\":0\") is IPv4 only and the [::1] client is skipped");
    CHECK(laddr.rfind("0.0.0.0:", 0) == 0);
    return;
  }
  CHECK(laddr.rfind("[::]:", 0) == 0);
  REQUIRE(remotes.size() == 4);
  CHECK(remotes[0].rfind("127.0.0.1:", 0) == 0);  // an IPv4-mapped peer reads as IPv4
  CHECK(remotes[3].rfind("[::1]:", 0) == 0);
}

// IPv6 zones: "[fe80::1%lo]:80" parses with lo's index as the scope, and
// (Go: TestIPv6LinkLocalUnicastTCP-like) a listener on a link-local address
// with its zone accepts a dial to it, if this host has one.
TEST_CASE("lookup: IPv6 zones, and a link-local listener dialled with its zone", "[lookup][ipv6]") {
  auto procs = GENERATE(1u, 2u, 4u);
  unsigned lo = ::if_nametoindex("lo");
  std::string linklocal;  // "fe80::...%ifname"
  if (ifaddrs* ifs = nullptr; goro::detail::ipv6_available() && ::getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i != nullptr && linklocal.empty(); i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET6) continue;
      auto* a = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr)) linklocal = goro::detail::format_ip(i->ifa_addr);
    }
    ::freeifaddrs(ifs);
  }
  std::uint32_t scope = 0;
  std::string laddr, remote, err;
  goro::run(
      [&] {
        if (lo != 0) {
          std::vector<goro::detail::sock_addr> r = goro::detail::resolve("[fe80::1%lo]:80", false);
          if (r.size() == 1 && r[0].ss.ss_family == AF_INET6) scope = reinterpret_cast<sockaddr_in6*>(&r[0].ss)->sin6_scope_id;
        }
        if (linklocal.empty()) return;
        try {
          goro::net::listener ln = goro::net::listen("[" + linklocal + "]:0");
          laddr = ln.addr();
          goro::wait_group wg;
          wg.go([&] { remote = ln.accept().remote_addr(); });
          goro::net::conn c = goro::net::dial(laddr, 5s);
          wg.wait();
        } catch (const std::exception& e) {
          err = e.what();
        }
      },
      goro::config{.procs = procs});
  if (lo != 0) CHECK(scope == lo);
  if (linklocal.empty()) {
    WARN("no IPv6 link-local address on this host: the link-local dial is skipped");
    return;
  }
  INFO(linklocal << " " << err);
  if (!err.empty() && err.find("Cannot assign requested address") != std::string::npos) {
    WARN("the link-local address " << linklocal << " cannot be bound here (" << err << "): skipped");
    return;
  }
  CHECK(err.empty());
  CHECK(laddr.rfind("[" + linklocal + "]:", 0) == 0);
  CHECK(remote.rfind("[fe80:", 0) == 0);
}

// Go: TestListenCloseListen (net_test.go). SO_REUSEADDR lets a listener be
// created again at once on the port of one just closed, although a
// connection it accepted (closed first by the server) is in TIME_WAIT there.
TEST_CASE("lookup: a listener's port can be listened on again at once after close, with a connection in TIME_WAIT", "[lookup][reuse]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string first, second, err;
  int plain_bind_errno = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        first = ln.addr();
        goro::wait_group wg;
        wg.go([&] {
          goro::net::conn s = ln.accept();
          s.close();  // the server closes first: its side goes to TIME_WAIT
        });
        goro::net::conn c = goro::net::dial(first);
        std::byte b[1];
        std::size_t n = c.read(b);  // EOF: the server's FIN has arrived
        (void)n;
        wg.wait();
        c.close();
        ln.close();
        // Without SO_REUSEADDR the port is taken while TIME_WAIT lasts.
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port_of(first))));
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) plain_bind_errno = errno;
        ::close(fd);
        try {
          goro::net::listener again = goro::net::listen(first);
          second = again.addr();
        } catch (const std::exception& e) {
          err = e.what();
        }
      },
      goro::config{.procs = procs});
  INFO(err);
  CHECK(err.empty());
  CHECK(second == first);
  if (plain_bind_errno != EADDRINUSE)
    WARN("a bind without SO_REUSEADDR succeeded: no TIME_WAIT was seen on the port (errno " << plain_bind_errno << ")");
}

// Go: TestDialTimeout-like, against a local listener only. A listening socket
// with a backlog of 0 that never accepts is filled with raw non-blocking
// connects until one stays in progress (the kernel now drops SYNs for it);
// then dial(addr, 200ms) throws timeout_error in about that time and leaves
// no socket behind (twice: the first also starts the netpoller).
TEST_CASE("lookup: dial(addr, timeout) to a full backlog times out and leaves nothing", "[lookup][timeout]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int fds_start = goro_test::open_fd_count();
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), alen) == 0);
  REQUIRE(::listen(lfd, 0) == 0);
  REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen) == 0);
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  std::vector<int> fillers;
  bool pending = false;
  for (int i = 0; i < 64 && !pending; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fillers.push_back(fd);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) continue;
    REQUIRE(errno == EINPROGRESS);
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 100) == 0) pending = true;  // still in progress after 100 ms: the backlog is full
  }
  if (!pending) {
    for (int fd : fillers) ::close(fd);
    ::close(lfd);
    WARN("64 connects to a listener with backlog 0 all completed (syncookies?): the full-backlog dial is skipped");
    return;
  }
  bool timed_out = false;
  double secs = -1;
  int fds_before = -1, fds_after = -1;
  goro::run(
      [&] {
        // The first dial also starts the netpoller (its epoll and wake-up
        // fds stay); the second is measured.
        bool first = false;
        try {
          goro::net::dial(addr, 200ms);
        } catch (const goro::timeout_error&) {
          first = true;
        }
        fds_before = goro_test::open_fd_count();
        auto t0 = std::chrono::steady_clock::now();
        try {
          goro::net::dial(addr, 200ms);
        } catch (const goro::timeout_error&) {
          timed_out = first;
        }
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        fds_after = goro_test::open_fd_count();
      },
      goro::config{.procs = procs});
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
  CHECK(timed_out);
  CHECK(secs >= 0.19);
  CHECK(secs < 5.0);  // generous
  CHECK(fds_after == fds_before);
  CHECK(goro_test::open_fd_count() == fds_start);
}
