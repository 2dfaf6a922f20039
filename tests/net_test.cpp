// goro::net and goro::io (docs/reference.md, "Network and file descriptors"):
// the netpoller on loopback TCP and pipes. Echo of 1 MB each way, many
// concurrent connections, deadlines (passing, extended, moved into the past
// while blocked), EOF, close waking blocked accept / read, EMFILE back-off
// without spinning, peer reset without SIGPIPE, bad addresses, IPv6, io::wait_*
// on pipes from goroutines and plain threads, and unwinding at shutdown.
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through atomics or
// test-scope variables.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// read_exactly reads n bytes (fewer only at EOF).
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

// echo copies everything read from c back to it until EOF or an error.
void echo(goro::net::conn& c) {
  std::vector<std::byte> buf(64 * 1024);
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

double secs_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST_CASE("net: 1 MB echoed each way over loopback", "[net]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const std::size_t size = 1 << 20;
  const std::string sent = pattern(size, procs);
  std::string received;
  std::string server_error, writer_error;
  std::string laddr, raddr, server_seen_peer;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::wait_group wg;
        wg.go([&] {
          try {
            goro::net::conn c = ln.accept();
            server_seen_peer = c.remote_addr();
            echo(c);
          } catch (const std::exception& e) {
            server_error = e.what();
          }
        });
        goro::net::conn c = goro::net::dial(ln.addr());
        laddr = c.local_addr();
        raddr = c.remote_addr();
        // One goroutine writes while this one reads the same conn
        // (docs/reference.md, "Network and file descriptors").
        wg.go([&] {
          try {
            // In uneven pieces, to exercise partial writes and reads.
            std::size_t off = 0, piece = 1;
            while (off < size) {
              std::size_t k = std::min(piece, size - off);
              if (c.write(as_bytes(sent).subspan(off, k)) != k) writer_error = "short write";
              off += k;
              piece = piece * 3 + 7;
            }
          } catch (const std::exception& e) {
            writer_error = e.what();
          }
        });
        received = read_exactly(c, size);
        c.close();
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(server_error.empty());
  CHECK(writer_error.empty());
  REQUIRE(received.size() == size);
  CHECK(received == sent);
  CHECK(raddr.rfind("127.0.0.1:", 0) == 0);
  CHECK(laddr.rfind("127.0.0.1:", 0) == 0);
  CHECK(server_seen_peer == laddr);
}

TEST_CASE("net: many concurrent connections", "[net]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(200));
  std::atomic<int> ok{0}, failed{0}, served{0};
  std::string first_error;
  std::atomic<bool> have_error{false};
  auto note_error = [&](const std::exception& e) {
    failed.fetch_add(1);
    if (!have_error.exchange(true)) first_error = e.what();
  };
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        std::string addr = ln.addr();
        goro::wait_group server, handlers;
        server.go([&] {
          try {
            for (;;) {
              goro::net::conn c = ln.accept();
              handlers.go([&](goro::net::conn c) {
                try {
                  echo(c);
                  served.fetch_add(1);
                } catch (const std::exception& e) {
                  note_error(e);
                }
              }, std::move(c));
            }
          } catch (const goro::net::closed_error&) {
          }
        });
        goro::wait_group clients;
        for (int i = 0; i < n; ++i) {
          clients.go([&, i] {
            try {
              goro::net::conn c = goro::net::dial(addr);
              std::string msg = pattern(1000 + static_cast<std::size_t>(i) * 37 % 3000, static_cast<unsigned>(i));
              c.write(as_bytes(msg));
              if (read_exactly(c, msg.size()) == msg) ok.fetch_add(1);
              else failed.fetch_add(1);
            } catch (const std::exception& e) {
              note_error(e);
            }
          });
        }
        clients.wait();
        handlers.wait();  // every client closed: every handler saw EOF
        ln.close();
        server.wait();
      },
      goro::config{.procs = procs});
  INFO(first_error);
  CHECK(failed.load() == 0);
  CHECK(ok.load() == n);
  CHECK(served.load() == n);
}

TEST_CASE("net: read and write deadlines", "[net][deadline]") {
  auto procs = GENERATE(1u, 2u);
  bool read_timed_out = false, write_timed_out = false, usable_after = false;
  bool code_ok = false, expired_at_once = false;
  double waited = 0, write_waited = 0;
  std::string other_error;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::net::conn client = goro::net::dial(ln.addr());
        goro::net::conn server = ln.accept();
        goro::chan<int> go_write;
        goro::wait_group wg;
        wg.go([&] {
          go_write.recv();
          server.write(as_bytes(std::string("hello")));
        });
        // The read deadline passes: timeout_error, after the deadline.
        client.set_read_deadline(goro::now() + 50ms);
        std::byte buf[16];
        auto t0 = std::chrono::steady_clock::now();
        try {
          client.read(buf);
        } catch (const goro::timeout_error& e) {
          read_timed_out = true;
          code_ok = e.code() == std::errc::timed_out;
        }
        waited = secs_since(t0);
        // Expired: the next read fails at once (Go's prepareRead).
        t0 = std::chrono::steady_clock::now();
        try {
          client.read(buf);
        } catch (const goro::timeout_error&) {
          expired_at_once = secs_since(t0) < 0.5;
        }
        // Extended: the conn is usable again.
        client.set_read_deadline(goro::now() + 10s);
        go_write.send(1);
        try {
          usable_after = read_exactly(client, 5) == "hello";
        } catch (const std::exception& e) {
          other_error = e.what();
        }
        wg.wait();
        // Write deadline: the peer never reads, the socket buffers fill up.
        client.set_write_deadline(goro::now() + 100ms);
        std::string chunk(64 * 1024, 'x');
        t0 = std::chrono::steady_clock::now();
        try {
          for (int i = 0; i < 100000; ++i) client.write(as_bytes(chunk));
        } catch (const goro::timeout_error&) {
          write_timed_out = true;
        }
        write_waited = secs_since(t0);
      },
      goro::config{.procs = procs});
  INFO(other_error);
  CHECK(read_timed_out);
  CHECK(code_ok);
  CHECK(waited >= 0.045);
  CHECK(waited < 5.0);
  CHECK(expired_at_once);
  CHECK(usable_after);
  CHECK(write_timed_out);
  CHECK(write_waited >= 0.09);
  CHECK(write_waited < 5.0);
}

TEST_CASE("net: a deadline moved while a read is blocked takes effect", "[net][deadline]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool past_woke = false, shortened_woke = false;
  double past_after = 0, shortened_after = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::net::conn client = goro::net::dial(ln.addr());
        goro::net::conn server = ln.accept();
        goro::wait_group wg;
        std::chrono::steady_clock::time_point t_set;
        // A read blocked with no deadline; the deadline is then set in the past.
        wg.go([&] {
          std::byte buf[8];
          try {
            client.read(buf);
          } catch (const goro::timeout_error&) {
            past_woke = true;
            past_after = secs_since(t_set);
          }
        });
        goro::sleep_for(30ms);
        t_set = std::chrono::steady_clock::now();
        client.set_read_deadline(goro::now() - 1s);
        wg.wait();
        // A read blocked with a far deadline; the deadline is then brought near.
        client.set_read_deadline(goro::now() + 1h);
        wg.go([&] {
          std::byte buf[8];
          try {
            client.read(buf);
          } catch (const goro::timeout_error&) {
            shortened_woke = true;
            shortened_after = secs_since(t_set);
          }
        });
        goro::sleep_for(30ms);
        t_set = std::chrono::steady_clock::now();
        client.set_deadline(goro::now() + 50ms);
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(past_woke);
  CHECK(past_after < 1.0);
  CHECK(shortened_woke);
  CHECK(shortened_after >= 0.045);
  CHECK(shortened_after < 2.0);
}

TEST_CASE("net: read returns 0 at EOF after the peer closes", "[net]") {
  auto procs = GENERATE(1u, 2u);
  std::string got;
  std::size_t eof_read = 99, second_eof = 99;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::wait_group wg;
        wg.go([&] {
          goro::net::conn s = ln.accept();
          s.write(as_bytes(std::string("bye")));
          s.close();
        });
        goro::net::conn c = goro::net::dial(ln.addr());
        got = read_exactly(c, 3);
        std::byte buf[16];
        eof_read = c.read(buf);
        second_eof = c.read(buf);
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(got == "bye");
  CHECK(eof_read == 0);
  CHECK(second_eof == 0);
}

TEST_CASE("net: listener close wakes a blocked accept with closed_error", "[net][close]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool woke_closed = false, code_ok = false, accept_after_close = false, double_close = false;
  double after = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::wait_group wg;
        std::chrono::steady_clock::time_point t_close;
        wg.go([&] {
          try {
            ln.accept();
          } catch (const goro::net::closed_error& e) {
            woke_closed = true;
            code_ok = e.code() == std::errc::bad_file_descriptor;
            after = secs_since(t_close);
          }
        });
        goro::sleep_for(30ms);
        t_close = std::chrono::steady_clock::now();
        ln.close();
        wg.wait();
        try {
          ln.accept();
        } catch (const goro::net::closed_error&) {
          accept_after_close = true;
        }
        try {
          ln.close();
        } catch (const goro::net::closed_error&) {
          double_close = true;
        }
      },
      goro::config{.procs = procs});
  CHECK(woke_closed);
  CHECK(code_ok);
  CHECK(after < 1.0);
  CHECK(accept_after_close);
  CHECK(double_close);
}

TEST_CASE("net: close during a blocked read wakes it with closed_error", "[net][close]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool reader_closed = false, writer_closed = false, use_after = false;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::net::conn client = goro::net::dial(ln.addr());
        goro::net::conn server = ln.accept();
        goro::wait_group wg;
        wg.go([&] {
          std::byte buf[8];
          try {
            client.read(buf);
          } catch (const goro::net::closed_error&) {
            reader_closed = true;
          }
        });
        // A writer blocked on a full socket buffer (the peer does not read).
        wg.go([&] {
          std::string chunk(256 * 1024, 'y');
          try {
            for (int i = 0; i < 100000; ++i) client.write(as_bytes(chunk));
          } catch (const goro::net::closed_error&) {
            writer_closed = true;
          }
        });
        goro::sleep_for(50ms);
        client.close();  // returns once both have left the conn
        wg.wait();
        try {
          std::byte buf[8];
          client.read(buf);
        } catch (const goro::net::closed_error&) {
          use_after = true;
        }
      },
      goro::config{.procs = procs});
  CHECK(reader_closed);
  CHECK(writer_closed);
  CHECK(use_after);
}

TEST_CASE("net: a reset by the peer gives an error, never SIGPIPE", "[net]") {
  auto procs = GENERATE(1u, 2u);
  bool read_error = false, write_error = false;
  std::string read_what, write_what;
  int read_errno = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::net::conn client = goro::net::dial(ln.addr());
        goro::net::conn server = ln.accept();
        // SO_LINGER 0: close sends RST.
        linger lg{1, 0};
        ::setsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        client.close();
        goro::sleep_for(20ms);
        std::byte buf[16];
        try {
          server.read(buf);
        } catch (const std::system_error& e) {
          read_error = true;
          read_errno = e.code().value();
          read_what = e.what();
        }
        std::string chunk(16 * 1024, 'z');
        try {
          for (int i = 0; i < 1000; ++i) server.write(as_bytes(chunk));
        } catch (const std::system_error& e) {
          write_error = true;
          write_what = e.what();
        }
      },
      goro::config{.procs = procs});
  INFO(read_what);
  INFO(write_what);
  CHECK(read_error);
  CHECK(read_errno == ECONNRESET);
  CHECK(write_error);
}

TEST_CASE("net: bad addresses give a clear error", "[net]") {
  std::string listen_what, dial_what, missing_bracket;
  bool listen_inval = false, dial_inval = false, refused = false;
  std::string refused_what;
  goro::run([&] {
    try {
      goro::net::listen("nonsense");
    } catch (const std::system_error& e) {
      listen_what = e.what();
      listen_inval = e.code() == std::errc::invalid_argument;
    }
    try {
      goro::net::dial("127.0.0.1:99999");
    } catch (const std::system_error& e) {
      dial_what = e.what();
      dial_inval = e.code() == std::errc::invalid_argument;
    }
    try {
      goro::net::dial("[::1:80");
    } catch (const std::system_error& e) {
      missing_bracket = e.what();
    }
    try {
      goro::net::dial("127.0.0.1:1");  // nothing listens on port 1
    } catch (const goro::net::error& e) {
      refused = e.code().value() == ECONNREFUSED;
      refused_what = e.what();
    }
  });
  INFO(listen_what);
  INFO(dial_what);
  INFO(refused_what);
  CHECK(listen_inval);
  CHECK(listen_what.find("nonsense") != std::string::npos);
  CHECK(listen_what.find("missing port") != std::string::npos);
  CHECK(dial_inval);
  CHECK(dial_what.find("127.0.0.1:99999") != std::string::npos);
  CHECK(dial_what.find("invalid port") != std::string::npos);
  CHECK(missing_bracket.find("]") != std::string::npos);
  CHECK(refused);
}

TEST_CASE("net: localhost and IPv6 loopback", "[net]") {
  bool have_v6 = false;
  std::string v6_addr, v6_remote, v6_echo, local_echo, local_addr;
  goro::run(
      [&] {
        {
          goro::net::listener ln = goro::net::listen("localhost:0");
          local_addr = ln.addr();
          goro::wait_group wg;
          wg.go([&] {
            goro::net::conn s = ln.accept();
            echo(s);
          });
          std::string port = local_addr.substr(local_addr.rfind(':') + 1);
          goro::net::conn c = goro::net::dial("localhost:" + port);
          c.write(as_bytes(std::string("ping")));
          local_echo = read_exactly(c, 4);
          c.close();
          wg.wait();
        }
        goro::net::listener ln;
        try {
          ln = goro::net::listen("[::1]:0");
          have_v6 = true;
        } catch (const std::system_error&) {
          return;  // no IPv6 on this machine
        }
        v6_addr = ln.addr();
        goro::wait_group wg;
        wg.go([&] {
          goro::net::conn s = ln.accept();
          v6_remote = s.remote_addr();
          echo(s);
        });
        goro::net::conn c = goro::net::dial(v6_addr);
        c.write(as_bytes(std::string("six")));
        v6_echo = read_exactly(c, 3);
        c.close();
        wg.wait();
      },
      goro::config{.procs = 2});
  CHECK(local_addr.rfind("127.0.0.1:", 0) == 0);
  CHECK(local_echo == "ping");
  if (!have_v6) {
    WARN("IPv6 loopback not available: [::1] part skipped");
    return;
  }
  CHECK(v6_addr.rfind("[::1]:", 0) == 0);
  CHECK(v6_remote.rfind("[::1]:", 0) == 0);
  CHECK(v6_echo == "six");
}

TEST_CASE("io: wait_readable on a pipe, with a deadline, and io::close waking a waiter", "[io]") {
  auto procs = GENERATE(1u, 2u);
  bool timed_out = false, became_readable = false, closed_woke = false, writable = false;
  double waited = 0;
  std::string data;
  goro::run(
      [&] {
        int p[2];
        REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
        auto t0 = std::chrono::steady_clock::now();
        try {
          goro::io::wait_readable(p[0], goro::now() + 40ms);
        } catch (const goro::timeout_error&) {
          timed_out = true;
          waited = secs_since(t0);
        }
        goro::io::wait_writable(p[1], goro::now() + 1s);
        writable = true;
        goro::go([w = p[1]] {
          goro::sleep_for(20ms);
          [[maybe_unused]] ssize_t n = ::write(w, "data", 4);
        });
        goro::io::wait_readable(p[0], goro::now() + 10s);
        became_readable = true;
        char buf[8];
        ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n > 0) data.assign(buf, static_cast<std::size_t>(n));
        // A goroutine waiting on the pipe, woken by io::close.
        goro::wait_group wg;
        wg.go([&, r = p[0]] {
          try {
            goro::io::wait_readable(r);
          } catch (const goro::net::closed_error&) {
            closed_woke = true;
          }
        });
        goro::sleep_for(30ms);
        goro::io::close(p[0]);
        wg.wait();
        goro::io::close(p[1]);
      },
      goro::config{.procs = procs});
  CHECK(timed_out);
  CHECK(waited >= 0.035);
  CHECK(writable);
  CHECK(became_readable);
  CHECK(data == "data");
  CHECK(closed_woke);
}

TEST_CASE("io: wait_readable from a plain OS thread", "[io][threads]") {
  // Outside any run(): the thread blocks in poll(2).
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  bool timed_out = false, readable = false;
  double waited = 0;
  std::atomic<bool> first_done{false};
  std::thread t([&] {
    auto t0 = std::chrono::steady_clock::now();
    try {
      goro::io::wait_readable(p[0], goro::now() + 40ms);
    } catch (const goro::timeout_error&) {
      timed_out = true;
      waited = secs_since(t0);
    }
    first_done.store(true);
    goro::io::wait_readable(p[0], goro::now() + 10s);
    readable = true;
  });
  while (!first_done.load()) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);  // the thread is (most likely) blocked again
  REQUIRE(::write(p[1], "x", 1) == 1);
  t.join();
  CHECK(timed_out);
  CHECK(waited >= 0.035);
  CHECK(readable);
  goro::io::close(p[0]);
  goro::io::close(p[1]);

  // Inside a run(): a plain thread blocked reading a conn is woken by a
  // deadline moved into the past, then by close (both from a goroutine).
  std::atomic<int> stage{0};
  bool thread_timeout = false, thread_closed = false;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::net::conn client = goro::net::dial(ln.addr());
        goro::net::conn server = ln.accept();
        std::thread reader([&] {
          std::byte buf[8];
          stage.store(1);
          try {
            client.read(buf);
          } catch (const goro::timeout_error&) {
            thread_timeout = true;
          }
          client.set_read_deadline(goro::clock::time_point::max());
          stage.store(2);
          try {
            client.read(buf);
          } catch (const goro::net::closed_error&) {
            thread_closed = true;
          }
          stage.store(3);
        });
        while (stage.load() < 1) goro::sleep_for(1ms);
        goro::sleep_for(30ms);
        client.set_read_deadline(goro::now() - 1s);
        while (stage.load() < 2) goro::sleep_for(1ms);
        goro::sleep_for(30ms);
        client.close();
        while (stage.load() < 3) goro::sleep_for(1ms);
        reader.join();
      },
      goro::config{.procs = 2});
  CHECK(thread_timeout);
  CHECK(thread_closed);
}

namespace {
struct raii_flag {
  std::atomic<int>& n;
  ~raii_flag() { n.fetch_add(1); }
};
}  // namespace

TEST_CASE("net: goroutines blocked in I/O when main returns are unwound", "[net][shutdown]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> destroyed{0};
  std::optional<goro::net::conn> keep;  // the peer stays open past run(): the reader never sees EOF
  int pipe_w = -1;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        keep.emplace(goro::net::dial(ln.addr()));
        goro::net::conn server = ln.accept();
        // Blocked in read.
        goro::go([&destroyed](goro::net::conn c) {
          raii_flag f{destroyed};
          std::byte buf[8];
          c.read(buf);
        }, std::move(server));
        // Blocked in accept.
        goro::go([&destroyed](goro::net::listener l) {
          raii_flag f{destroyed};
          l.accept();
        }, std::move(ln));
        // Blocked in io::wait_readable with a deadline far away.
        int p[2];
        REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
        pipe_w = p[1];
        goro::go([&destroyed, r = p[0]] {
          raii_flag f{destroyed};
          struct closer {
            int fd;
            ~closer() { goro::io::close(fd); }
          } cl{r};
          goro::io::wait_readable(r, goro::now() + 1h);
        });
        goro::sleep_for(50ms);  // let them block
      },
      goro::config{.procs = procs});
  CHECK(destroyed.load() == 3);
  keep.reset();
  ::close(pipe_w);
}

TEST_CASE("net: accept backs off under EMFILE and keeps serving once fds free up", "[net][emfile]") {
  constexpr int k = 4;
  int accepted_during = -1, accepted_after = 0, echoed = 0;
  double wall = 0, cpu = 0;
  bool limit_set = false;
  std::string error;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        std::atomic<int> accepted{0};
        goro::wait_group server, handlers;
        server.go([&] {
          try {
            for (;;) {
              goro::net::conn c = ln.accept();
              accepted.fetch_add(1);
              handlers.go([](goro::net::conn c) {
                try {
                  echo(c);
                } catch (const std::exception&) {
                }
              }, std::move(c));
            }
          } catch (const goro::net::closed_error&) {
          }
        });
        goro::sleep_for(20ms);  // the server waits in accept: the netpoller exists

        // The clients' sockets are made before the limit is lowered.
        int cfd[k];
        for (int& fd : cfd) fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        socklen_t len = sizeof sa;
        ::getsockname(ln.native_handle(), reinterpret_cast<sockaddr*>(&sa), &len);

        // Lower RLIMIT_NOFILE to just above the highest fd open now, and
        // fill the gaps below it: no fd can be opened.
        int highest = 0;
        if (DIR* d = ::opendir("/proc/self/fd")) {
          int own = ::dirfd(d);
          while (dirent* e = ::readdir(d)) {
            int fd = std::atoi(e->d_name);
            if (fd != own && fd > highest) highest = fd;
          }
          ::closedir(d);
        }
        rlimit old{};
        ::getrlimit(RLIMIT_NOFILE, &old);
        rlimit low = old;
        low.rlim_cur = static_cast<rlim_t>(highest + 1);
        std::vector<int> fillers;
        if (::setrlimit(RLIMIT_NOFILE, &low) == 0) {
          limit_set = true;
          for (;;) {
            int fd = ::dup(cfd[0]);
            if (fd < 0) break;
            fillers.push_back(fd);
          }
          // Connect: the connections wait in the listener's backlog, and
          // accept fails with EMFILE.
          for (int fd : cfd) ::connect(fd, reinterpret_cast<sockaddr*>(&sa), len);
          auto t0 = std::chrono::steady_clock::now();
          double c0 = cpu_seconds();
          goro::sleep_for(400ms);
          cpu = cpu_seconds() - c0;
          wall = secs_since(t0);
          accepted_during = accepted.load();
          for (int fd : fillers) ::close(fd);
          ::setrlimit(RLIMIT_NOFILE, &old);
        }
        try {
          for (int i = 0; i < k; ++i) {
            goro::io::wait_writable(cfd[i], goro::now() + 10s);  // connected
            char b = static_cast<char>('a' + i);
            if (::write(cfd[i], &b, 1) != 1) throw std::runtime_error("client write failed");
            char r = 0;
            for (;;) {
              ssize_t n = ::read(cfd[i], &r, 1);
              if (n == 1) break;
              if (n < 0 && errno == EAGAIN) {
                goro::io::wait_readable(cfd[i], goro::now() + 10s);
                continue;
              }
              throw std::runtime_error("client read failed");
            }
            if (r == b) ++echoed;
          }
        } catch (const std::exception& e) {
          error = e.what();
        }
        for (int fd : cfd) goro::io::close(fd);
        accepted_after = accepted.load();
        handlers.wait();
        ln.close();
        server.wait();
      },
      goro::config{.procs = 2});
  INFO(error);
  REQUIRE(limit_set);
  CHECK(accepted_during == 0);
  CHECK(accepted_after == k);
  CHECK(echoed == k);
  // The accept loop slept: CPU time well below the wall time of the EMFILE period.
  INFO("cpu " << cpu << " s over " << wall << " s");
  CHECK(wall >= 0.39);
  CHECK(cpu < 0.25 * wall);
}

TEST_CASE("net: reads, deadline changes and close racing", "[net][race]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long rounds = goro_test::scale(300);
  std::atomic<long> reads{0}, timeouts{0}, closed{0}, other{0}, finished{0};
  std::string other_what;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        for (long r = 0; r < rounds; ++r) {
          goro::net::conn client = goro::net::dial(ln.addr());
          goro::net::conn server = ln.accept();
          goro::wait_group wg;
          wg.go([&] {  // reader: until timeout, close or EOF
            std::byte buf[64];
            try {
              while (client.read(buf) != 0) reads.fetch_add(1);
            } catch (const goro::timeout_error&) {
              timeouts.fetch_add(1);
            } catch (const goro::net::closed_error&) {
              closed.fetch_add(1);
            } catch (const std::exception& e) {
              if (other.fetch_add(1) == 0) other_what = e.what();
            }
            finished.fetch_add(1);
          });
          wg.go([&] {  // the peer writes a little
            try {
              for (int i = 0; i < 3; ++i) {
                server.write(as_bytes(std::string("x")));
                goro::yield();
              }
            } catch (const std::exception&) {
            }
          });
          wg.go([&, r] {  // deadlines: near, moved, past
            try {
              client.set_read_deadline(goro::now() + std::chrono::microseconds(50 * (r % 4)));
              goro::yield();
              client.set_read_deadline(goro::now() + 1h);
              if (r % 3 == 0) client.set_read_deadline(goro::now() - 1ms);
            } catch (const goro::net::closed_error&) {
            }
          });
          wg.go([&, r] {  // close, sooner or later
            for (long i = 0; i < r % 5; ++i) goro::yield();
            try {
              client.close();
            } catch (const goro::net::closed_error&) {
            }
          });
          wg.wait();
        }
      },
      goro::config{.procs = procs});
  INFO(other_what);
  CHECK(other.load() == 0);
  CHECK(finished.load() == rounds);
  CHECK(timeouts.load() + closed.load() == rounds);
}

TEST_CASE("io: two goroutines waiting on one fd are both woken", "[io]") {
  auto procs = GENERATE(1u, 2u);
  std::atomic<int> woke{0};
  goro::run(
      [&] {
        int p[2];
        REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
        goro::wait_group wg;
        for (int i = 0; i < 2; ++i)
          wg.go([&, r = p[0]] {
            try {
              goro::io::wait_readable(r, goro::now() + 10s);
              woke.fetch_add(1);
            } catch (const goro::timeout_error&) {
            }
          });
        goro::sleep_for(30ms);
        REQUIRE(::write(p[1], "x", 1) == 1);
        wg.wait();
        goro::io::close(p[0]);
        goro::io::close(p[1]);
      },
      goro::config{.procs = procs});
  CHECK(woke.load() == 2);
}

TEST_CASE("io: an I/O wait inside blocking<> throws logic_error", "[io][blocking]") {
  bool threw = false;
  goro::run([&] {
    int p[2];
    REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    {
      goro::blocking<> guard;
      try {
        goro::io::wait_readable(p[0], goro::now() + 1s);
      } catch (const std::logic_error&) {
        threw = true;
      }
    }
    goro::io::close(p[0]);
    goro::io::close(p[1]);
  });
  CHECK(threw);
}

// ---------------------------------------------------------------------------
// Issue 13 §3: deadlines are templates over the time point's duration type and
// saturate. A coarse time point beyond goro::clock's range used to overflow
// in the implicit conversion to clock::time_point, into the past: the call
// timed out at once.

TEST_CASE("net: deadlines of coarse time points beyond the clock's range saturate (issue 13)", "[net][io][deadline][regression]") {
  auto which = GENERATE(as<std::string>{}, "hours time_point::max", "seconds time_point::max", "now + 300 years");
  bool read_ok = false, accept_ok = false, io_ok = false;
  std::string error;
  goro::run([&] {
    using tp_h = std::chrono::time_point<goro::clock, std::chrono::hours>;
    using tp_s = std::chrono::time_point<goro::clock, std::chrono::seconds>;
    auto deadline_test = [&](auto dl) {
      goro::net::listener ln = goro::net::listen("127.0.0.1:0");
      goro::wait_group wg;
      // accept, with a deadline: a dial 50 ms later is accepted.
      ln.set_deadline(dl);
      wg.go([&] {
        goro::sleep_for(50ms);
        goro::net::conn c = goro::net::dial(ln.addr());
        c.write(as_bytes(std::string("late")));
        goro::sleep_for(200ms);  // the peer reads before the conn goes
      });
      goro::net::conn server = ln.accept();
      accept_ok = true;
      // read, with a deadline: data 50 ms later arrives.
      goro::net::conn client = goro::net::dial(ln.addr());
      goro::net::conn server2 = ln.accept();
      client.set_read_deadline(dl);
      client.set_deadline(dl);
      wg.go([&] {
        goro::sleep_for(50ms);
        server2.write(as_bytes(std::string("hello")));
      });
      read_ok = read_exactly(client, 5) == "hello" && read_exactly(server, 4) == "late";
      // io::wait_readable, with a deadline: a write 50 ms later wakes it.
      int p[2];
      REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
      wg.go([w = p[1]] {
        goro::sleep_for(50ms);
        [[maybe_unused]] ssize_t n = ::write(w, "x", 1);
      });
      goro::io::wait_readable(p[0], dl);
      io_ok = true;
      wg.wait();
      goro::io::close(p[0]);
      goro::io::close(p[1]);
    };
    try {
      if (which == "hours time_point::max") deadline_test(tp_h::max());
      else if (which == "seconds time_point::max") deadline_test(tp_s::max());
      else deadline_test(std::chrono::time_point_cast<std::chrono::hours>(goro::now()) + std::chrono::years(300));
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  INFO(which << ": " << error);
  CHECK(error.empty());
  CHECK(accept_ok);
  CHECK(read_ok);
  CHECK(io_ok);
}

// ---------------------------------------------------------------------------
// Issue 13 §2: close() racing the end of the object it closes. Goroutine B
// calls close() to cancel goroutine A's blocked call (the pattern the README
// documents); A gets closed_error, leaves its scope, and the object's
// destructor runs while B is still inside close(). close() used to wait on a
// semaphore inside the netfd, which the destructor had freed (ASan:
// heap-use-after-free in cansemacquire), and then closed the fd that the
// destructor had already closed ("close: Bad file descriptor", or an
// unrelated connection closed had the number been reused). Each scenario runs
// 1,000 times (scaled down for the sanitizer builds): B closes once A is
// parked, or at once (racing A into the call); the fd count must come back.

namespace {

// wait_io_parked: yields until some goroutine of this runtime is parked in
// the netpoller (A, blocked in read, accept or io::wait_*).
void wait_io_parked() {
  while (goro::debug::dump().find("[IO wait") == std::string::npos) goro::yield();
}

// close_race: one scenario's outcome counts, written by its goroutines.
struct close_race {
  std::atomic<long> woke_closed{0};  // A's call ended with closed_error
  std::atomic<long> other{0};        // anything else, on either side
  std::string other_what;            // the first such
  void note(const std::string& what) {
    if (other.fetch_add(1) == 0) other_what = what;
  }
  // blocked: A's side: call() must end with closed_error.
  template <class F>
  void blocked(const char* what, F&& call) {
    try {
      call();
      note(std::string(what) + " returned");
    } catch (const goro::net::closed_error&) {
      woke_closed.fetch_add(1);
    } catch (const std::exception& e) {
      note(std::string("A: ") + e.what());
    }
  }
  // closer: B's side.
  template <class F>
  void closer(F&& close) {
    try {
      close();
    } catch (const std::exception& e) {
      note(std::string("B: ") + e.what());
    }
  }
};

// run_close_race runs, in one goro::run at procs, round(r, i, state) for i in
// [0, rounds), where state = setup() lives for the whole run; then checks that
// every round ended with A woken by closed_error, nothing else went wrong,
// and no fd was left open.
struct no_state {};
template <class Round, class Setup = no_state (*)()>
void run_close_race(unsigned procs, Round round, Setup setup = [] { return no_state{}; }) {
  const long rounds = goro_test::scale(1000);
  close_race r;
  int fds_before = goro_test::open_fd_count();
  goro::run(
      [&] {
        auto state = setup();
        for (long i = 0; i < rounds; ++i) round(r, i, state);
      },
      goro::config{.procs = procs});
  int fds_after = goro_test::open_fd_count();
  INFO("procs " << procs << ": " << r.other_what);
  CHECK(r.other.load() == 0);
  CHECK(r.woke_closed.load() == rounds);
  CHECK(fds_after == fds_before);
}

}  // namespace

TEST_CASE("net: conn::close() from another goroutine while the owner destroys the conn (issue 13)", "[net][close][race][regression]") {
  auto setup = [] { return goro::net::listen("127.0.0.1:0"); };
  run_close_race(GENERATE(1u, 2u, 4u), [](close_race& r, long i, goro::net::listener& ln) {
    goro::chan<goro::net::conn*> handle(1);
    goro::wait_group wg;
    wg.go([&] {  // A: owns the conn; blocks in read until B closes it
      r.blocked("read", [&] {
        goro::net::conn c = goro::net::dial(ln.addr());
        handle.send(&c);
        std::byte buf[8];
        c.read(buf);
      });  // ~conn: possibly while B is still inside close()
    });
    goro::net::conn server = ln.accept();
    wg.go([&, i] {  // B: cancels A's read, once A is parked or at once
      goro::net::conn* c = *handle.recv();
      if (i % 2 == 0) wait_io_parked();
      r.closer([&] { c->close(); });
    });
    wg.wait();
  }, setup);
}

TEST_CASE("net: listener::close() from another goroutine while the owner destroys the listener (issue 13)", "[net][close][race][regression]") {
  run_close_race(GENERATE(1u, 2u, 4u), [](close_race& r, long i, no_state) {
    goro::chan<goro::net::listener*> handle(1);
    goro::wait_group wg;
    wg.go([&] {  // A: owns the listener; blocks in accept until B closes it
      r.blocked("accept", [&] {
        goro::net::listener l = goro::net::listen("127.0.0.1:0");
        handle.send(&l);
        l.accept();
      });  // ~listener: possibly while B is still inside close()
    });
    wg.go([&, i] {  // B: cancels A's accept
      goro::net::listener* l = *handle.recv();
      if (i % 2 == 0) wait_io_parked();
      r.closer([&] { l->close(); });
    });
    wg.wait();
  });
}

// The same with io::close on a raw fd: A owns a pipe and waits on its read
// end; B closes that end; A closes the write end and leaves. (A raw fd has no
// object to race into: B closes only once A is parked, since a wait that
// starts after the close is a use of a closed fd number.)
TEST_CASE("io: io::close() from another goroutine while the waiter's owner goes away (issue 13)", "[io][close][race][regression]") {
  run_close_race(GENERATE(1u, 2u, 4u), [](close_race& r, long, no_state) {
    goro::chan<int> handle(1);
    goro::wait_group wg;
    wg.go([&] {  // A: owns the pipe; waits on its read end until B closes it
      int p[2];
      if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
        r.note("pipe2 failed");
        handle.send(-1);
        return;
      }
      r.blocked("wait_readable", [&] {
        handle.send(p[0]);
        goro::io::wait_readable(p[0]);
      });
      r.closer([&] { goro::io::close(p[1]); });
    });
    wg.go([&] {  // B: cancels A's wait
      int fd = *handle.recv();
      if (fd < 0) return;
      wait_io_parked();
      r.closer([&] { goro::io::close(fd); });
    });
    wg.wait();
  });
}
