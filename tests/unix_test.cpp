// goro::net::listen_unix / dial_unix (docs/reference.md, "Unix domain
// sockets"): echo over a filesystem path and an abstract name, the addresses
// (Go's "@" for an unnamed socket), the socket file removed by close and by
// the destructor, autobind, too-long paths, dial errors (no file, nobody
// listening, a full backlog), close waking accept and read, Go's error texts
// (naming "unix"), and many connections at once. Behaviours ported from Go's net/unixsock_test.go and
// net/conn_test.go (test names cited). Socket paths live in a fresh temporary
// directory; abstract names carry the pid and a counter.
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through atomics or
// test-scope variables.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <system_error>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string read_exactly(goro::net::conn& c, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    std::size_t k = c.read(std::as_writable_bytes(std::span(out.data() + got, n - got)));
    if (k == 0) break;
    got += k;
  }
  out.resize(got);
  return out;
}

void echo(goro::net::conn& c) {
  std::vector<std::byte> buf(16 * 1024);
  for (;;) {
    std::size_t n = c.read(buf);
    if (n == 0) return;
    c.write(std::span(buf.data(), n));
  }
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& ch : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ch = static_cast<char>(x);
  }
  return s;
}

// temp_dir: a fresh directory for socket files, removed (with what is left
// in it) at the end of the scope.
struct temp_dir {
  std::string path;
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/goro-unix-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path = tmpl;
  }
  ~temp_dir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// abstract_name: "@goro-test-PID-N", unique in this process and machine-wide
// among live processes.
std::string abstract_name() {
  static std::atomic<int> counter{0};
  return "@goro-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

// wait_io_parked: yields until some goroutine of this runtime is parked in
// the netpoller.
void wait_io_parked() {
  while (goro::debug::dump().find("[IO wait") == std::string::npos) goro::yield();
}

int errno_of(const std::function<void()>& f, std::string* what = nullptr) {
  try {
    f();
  } catch (const goro::net::error& e) {
    if (what != nullptr) *what = e.what();
    return e.code().value();
  }
  return 0;
}

// echo_round_trip: serves one connection on ln (echo) and sends size bytes
// through it; returns what came back. Fills the addresses seen.
struct round_trip {
  std::string back, client_local, client_remote, server_local, server_remote, error;
};
round_trip echo_round_trip(goro::net::listener& ln, const std::string& dial_to, std::size_t size, unsigned seed) {
  round_trip r;
  goro::wait_group wg;
  wg.go([&] {
    try {
      goro::net::conn s = ln.accept();
      r.server_local = s.local_addr();
      r.server_remote = s.remote_addr();
      echo(s);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
  });
  goro::net::conn c = goro::net::dial_unix(dial_to);
  r.client_local = c.local_addr();
  r.client_remote = c.remote_addr();
  const std::string sent = pattern(size, seed);
  wg.go([&] {  // one goroutine writes while this one reads
    try {
      std::size_t off = 0, piece = 1;
      while (off < size) {
        std::size_t k = std::min(piece, size - off);
        c.write(as_bytes(sent).subspan(off, k));
        off += k;
        piece = piece * 3 + 5;
      }
    } catch (const std::exception& e) {
      r.error = e.what();
    }
  });
  r.back = read_exactly(c, size);
  c.close();
  wg.wait();
  return r;
}

}  // namespace

// Go: TestUnixConnLocalAndRemoteNames (the listener's, the dialer's and the
// accepted conn's addresses; "@" for the unnamed end on Linux), TestUnixUnlink
// (close removes the socket file).
TEST_CASE("unix: echo over a filesystem path; addresses; close removes the socket file", "[unix]") {
  auto procs = GENERATE(1u, 2u, 4u);
  temp_dir dir;
  const std::string path = dir / "echo.sock";
  const std::size_t size = 256 * 1024;
  round_trip r;
  std::string ln_addr;
  bool sock_while_open = false, gone_after_close = true;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen_unix(path);
        ln_addr = ln.addr();
        sock_while_open = is_socket(path);
        r = echo_round_trip(ln, path, size, procs);
        ln.close();
        gone_after_close = !exists(path);
      },
      goro::config{.procs = procs});
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(r.back == pattern(size, procs));
  CHECK(ln_addr == path);
  CHECK(sock_while_open);
  CHECK(gone_after_close);
  CHECK(r.client_remote == path);
  CHECK(r.client_local == "@");
  CHECK(r.server_local == path);
  CHECK(r.server_remote == "@");
}

TEST_CASE("unix: echo over an abstract name; no file; the name is free after close", "[unix]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const std::string name = abstract_name();
  round_trip r;
  std::string ln_addr, what;
  int in_use = 0;
  bool relisten = false;
  goro::run(
      [&] {
        {
          goro::net::listener ln = goro::net::listen_unix(name);
          ln_addr = ln.addr();
          in_use = errno_of([&] { goro::net::listen_unix(name); }, &what);
          r = echo_round_trip(ln, name, 64 * 1024, procs);
          ln.close();
        }
        goro::net::listener again = goro::net::listen_unix(name);
        relisten = again.addr() == name;
      },
      goro::config{.procs = procs});
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(r.back == pattern(64 * 1024, procs));
  CHECK(ln_addr == name);
  CHECK(r.client_remote == name);
  CHECK(r.server_local == name);
  CHECK(r.client_local == "@");
  INFO(what);
  CHECK(in_use == EADDRINUSE);
  CHECK(relisten);
}

// Go: TestUnixAutobindClose (an empty address: Linux picks an abstract name).
TEST_CASE("unix: listen_unix(\"\") autobinds to an abstract name", "[unix]") {
  std::string addr, back;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen_unix("");
        addr = ln.addr();
        goro::wait_group wg;
        wg.go([&] {
          goro::net::conn s = ln.accept();
          echo(s);
        });
        goro::net::conn c = goro::net::dial_unix(addr);
        c.write(as_bytes(std::string("auto")));
        back = read_exactly(c, 4);
        c.close();
        wg.wait();
        ln.close();
      },
      goro::config{.procs = 2});
  CHECK(addr.size() > 1);
  CHECK(addr[0] == '@');
  CHECK(back == "auto");
}

TEST_CASE("unix: the socket file: removed by the destructor, kept on a failed listen", "[unix]") {
  temp_dir dir;
  const std::string path = dir / "d.sock", other = dir / "taken";
  bool there = false, gone_after_dtor = false, kept = false, moved_kept = false, moved_gone = false;
  int in_use = 0, taken = 0;
  goro::run(
      [&] {
        {
          goro::net::listener ln = goro::net::listen_unix(path);
          there = is_socket(path);
          in_use = errno_of([&] { goro::net::listen_unix(path); });  // the file exists: EADDRINUSE
          kept = is_socket(path);                                       // and the failed listen left it
        }
        gone_after_dtor = !exists(path);
        // A regular file in the way: EADDRINUSE, and the file stays.
        int fd = ::open(other.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
        taken = errno_of([&] { goro::net::listen_unix(other); });
        // Moving the listener moves the duty to remove the file.
        goro::net::listener a = goro::net::listen_unix(path);
        goro::net::listener b = std::move(a);
        a = goro::net::listener();
        moved_kept = is_socket(path);
        b.close();
        moved_gone = !exists(path);
      },
      goro::config{.procs = 1});
  CHECK(there);
  CHECK(in_use == EADDRINUSE);
  CHECK(kept);
  CHECK(gone_after_dtor);
  CHECK(taken == EADDRINUSE);
  CHECK(exists(other));
  CHECK(moved_kept);
  CHECK(moved_gone);
}

TEST_CASE("unix: bad paths give net::error with EINVAL", "[unix]") {
  temp_dir dir;
  // sun_path holds 108 bytes: a filesystem path needs its NUL, so 107 at most;
  // an abstract name is "@" and at most 107 more.
  std::string longest = dir.path + "/";
  longest += std::string(107 - longest.size(), 'p');
  const std::string too_long = longest + "q";
  const std::string abstract_max = abstract_name() + "-", abstract_longest = abstract_max + std::string(108 - abstract_max.size(), 'a');
  int too_long_listen = 0, too_long_dial = 0, abstract_too_long = 0, nul = 0, empty_dial = 0;
  bool longest_ok = false, abstract_longest_ok = false;
  std::string what, dial_what, abstract_what, nul_what, empty_what;
  goro::run(
      [&] {
        too_long_listen = errno_of([&] { goro::net::listen_unix(too_long); }, &what);
        too_long_dial = errno_of([&] { goro::net::dial_unix(too_long); }, &dial_what);
        abstract_too_long = errno_of([&] { goro::net::listen_unix(abstract_longest + "b"); }, &abstract_what);
        nul = errno_of([&] { goro::net::listen_unix(std::string("bad\0name", 8)); }, &nul_what);
        empty_dial = errno_of([&] { goro::net::dial_unix(""); }, &empty_what);
        {
          goro::net::listener ln = goro::net::listen_unix(longest);
          goro::net::conn c = goro::net::dial_unix(longest);
          goro::net::conn s = ln.accept();
          longest_ok = ln.addr() == longest && c.remote_addr() == longest;
        }
        {
          goro::net::listener ln = goro::net::listen_unix(abstract_longest);
          goro::net::conn c = goro::net::dial_unix(abstract_longest);
          goro::net::conn s = ln.accept();
          abstract_longest_ok = ln.addr() == abstract_longest && c.remote_addr() == abstract_longest;
        }
      },
      goro::config{.procs = 1});
  CHECK(too_long_listen == EINVAL);
  CHECK(what == "listen unix " + too_long + ": invalid argument (path of 108 bytes; a Unix socket takes at most 107)");
  CHECK(too_long_dial == EINVAL);
  CHECK(dial_what == "dial unix " + too_long + ": invalid argument (path of 108 bytes; a Unix socket takes at most 107)");
  CHECK(abstract_too_long == EINVAL);
  CHECK(abstract_what == "listen unix " + abstract_longest + "b: invalid argument (path of 109 bytes; a Unix socket takes at most 108)");
  CHECK(nul == EINVAL);
  CHECK(nul_what == "listen unix bad\\x00name: invalid argument (path contains a NUL byte)");
  CHECK(empty_dial == EINVAL);
  CHECK(empty_what == "dial unix: missing address");  // Go: errMissingAddress
  CHECK(longest.size() == 107);
  CHECK(longest_ok);
  CHECK(abstract_longest.size() == 108);
  CHECK(abstract_longest_ok);
  CHECK(!exists(longest));
}

// dial_unix's errors: no file (ENOENT), a socket file nobody listens on
// (ECONNREFUSED), and a full backlog: the non-blocking connect fails with
// EAGAIN, which Go (netFD.connect) returns as an error; so does dial_unix.
TEST_CASE("unix: dial errors: no file, nobody listening, a full backlog", "[unix]") {
  temp_dir dir;
  const std::string stale = dir / "stale.sock", full = dir / "full.sock";
  int enoent = 0, refused = 0, backlog_errno = 0;
  int dialled = 0;
  std::string what, enoent_what, refused_what;
  goro::run(
      [&] {
        enoent = errno_of([&] { goro::net::dial_unix(dir / "none.sock"); }, &enoent_what);
        // A bound socket that never listens leaves a file nobody accepts on.
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, stale.c_str(), stale.size());
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        ::close(fd);
        refused = errno_of([&] { goro::net::dial_unix(stale); }, &refused_what);
        // A listener with a backlog of 1 that never accepts.
        sockaddr_un fa{};
        fa.sun_family = AF_UNIX;
        std::memcpy(fa.sun_path, full.c_str(), full.size());
        int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ::bind(lfd, reinterpret_cast<sockaddr*>(&fa), sizeof fa);
        ::listen(lfd, 1);
        std::vector<goro::net::conn> conns;
        for (int i = 0; i < 64 && backlog_errno == 0; ++i) {
          backlog_errno = errno_of([&] { conns.push_back(goro::net::dial_unix(full)); }, &what);
          if (backlog_errno == 0) ++dialled;
        }
        conns.clear();
        ::close(lfd);
      },
      goro::config{.procs = 1});
  CHECK(enoent == ENOENT);
  CHECK(enoent_what == "dial unix " + (dir / "none.sock") + ": connect: no such file or directory");
  CHECK(refused == ECONNREFUSED);
  CHECK(refused_what == "dial unix " + stale + ": connect: connection refused");
  CHECK(backlog_errno == EAGAIN);
  CHECK(dialled >= 1);
  CHECK(what == "dial unix " + full + ": connect: resource temporarily unavailable");
}

// The errors' what() is Go's net.OpError text with the network "unix"
// (unixsock_posix.go; net.go, OpError.Error): the unnamed end is "@".
TEST_CASE("unix: errors read as Go's net.OpError, naming unix", "[unix][errors]") {
  auto procs = GENERATE(1u, 2u, 4u);
  temp_dir dir;
  const std::string name = abstract_name(), missing = dir / "missing.sock";
  std::vector<std::string> got, want;
  std::string other;
  goro::run(
      [&] {
        auto expect = [&](const std::string& text, auto f) {
          want.push_back(text);
          try {
            f();
            got.push_back("(no exception)");
          } catch (const std::exception& e) {
            got.push_back(e.what());
          }
        };
        std::byte b[8];
        expect("dial unix " + missing + ": connect: no such file or directory", [&] { goro::net::dial_unix(missing); });
        goro::net::listener ln = goro::net::listen_unix(name);
        expect("listen unix " + name + ": bind: address already in use", [&] { goro::net::listen_unix(name); });
        goro::net::conn c = goro::net::dial_unix(name);
        goro::net::conn s = ln.accept();
        s.set_read_deadline(goro::now() - 1ms);
        expect("read unix " + name + "->@: i/o timeout", [&] { s.read(b); });
        // A parked read woken by close, then a read on the closed conn.
        std::string woken;
        goro::wait_group wg;
        wg.go([&] {
          try {
            c.read(b);
            woken = "read returned";
          } catch (const goro::net::closed_error& e) {
            woken = e.what();
          } catch (const std::exception& e) {
            other = e.what();
          }
        });
        wait_io_parked();
        c.close();
        wg.wait();
        want.push_back("read unix @->" + name + ": use of closed network connection");
        got.push_back(woken);
        expect("read unix @->" + name + ": use of closed network connection", [&] { c.read(b); });
        expect("write unix @->" + name + ": use of closed network connection", [&] { c.write(b); });
        ln.close();
        expect("accept unix " + name + ": use of closed network connection", [&] { ln.accept(); });
      },
      goro::config{.procs = procs});
  INFO(other);
  CHECK(other.empty());
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i]);
}

// Go: TestCloseUnblocksRead-like, for Unix conns and listeners.
TEST_CASE("unix: close wakes a blocked accept and a blocked read with closed_error", "[unix][close]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const std::string name = abstract_name();
  std::atomic<int> woke{0};
  std::string other;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen_unix(name);
        goro::net::conn c = goro::net::dial_unix(name);
        goro::net::conn s = ln.accept();
        goro::wait_group wg;
        wg.go([&] {
          try {
            ln.accept();
            other = "accept returned";
          } catch (const goro::net::closed_error&) {
            woke.fetch_add(1);
          } catch (const std::exception& e) {
            other = e.what();
          }
        });
        wg.go([&] {
          std::byte b[8];
          try {
            c.read(b);
            other = "read returned";
          } catch (const goro::net::closed_error&) {
            woke.fetch_add(1);
          } catch (const std::exception& e) {
            other = e.what();
          }
        });
        wait_io_parked();
        ln.close();
        c.close();
        wg.wait();
      },
      goro::config{.procs = procs});
  INFO(other);
  CHECK(other.empty());
  CHECK(woke.load() == 2);
}

TEST_CASE("unix: many concurrent connections", "[unix][stress]") {
  auto procs = GENERATE(1u, 2u, 4u);
  temp_dir dir;
  const std::string path = dir / "many.sock";
  const int clients = static_cast<int>(goro_test::scale(50));
  std::atomic<int> ok{0}, failed{0};
  std::string fail_what;
  int fds_before = goro_test::open_fd_count();
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen_unix(path);
        goro::wait_group srv, cli;
        srv.go([&] {
          try {
            for (;;) goro::go([](goro::net::conn c) {
                try {
                  echo(c);
                } catch (const std::exception&) {
                }
              }, ln.accept());
          } catch (const goro::net::closed_error&) {
          }
        });
        for (int i = 0; i < clients; ++i)
          cli.go([&, i] {
            try {
              goro::net::conn c = goro::net::dial_unix(path);
              c.set_deadline(goro::now() + 60s);  // a generous bound
              std::string msg = pattern(1000 + static_cast<std::size_t>(i) * 37, static_cast<unsigned>(i));
              c.write(as_bytes(msg));
              if (read_exactly(c, msg.size()) == msg) ok.fetch_add(1);
              else failed.fetch_add(1);
            } catch (const std::exception& e) {
              if (failed.fetch_add(1) == 0) fail_what = e.what();
            }
          });
        cli.wait();
        ln.close();
        srv.wait();
      },
      goro::config{.procs = procs});
  INFO(fail_what);
  CHECK(failed.load() == 0);
  CHECK(ok.load() == clients);
  CHECK(!exists(path));
  CHECK(goro_test::open_fd_count() == fds_before);
}
