// goro::net::packet_conn (docs/reference.md, "UDP: packet_conn"): UDP on
// loopback. Round trips (IPv4, IPv6, the wildcard), datagram boundaries,
// truncation, empty datagrams, deadlines, close waking a parked read, names as
// destinations, connected sockets (write_to refused, ECONNREFUSED from an
// ICMP port unreachable), bad input, Go's error texts, and many goroutines
// exchanging datagrams at once. Behaviours ported from Go's net/udpsock_test.go (test names cited).
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through atomics or
// test-scope variables.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/socket.h>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string as_string(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

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

std::string port_of(const std::string& addr) { return addr.substr(addr.rfind(':') + 1); }

// wait_io_parked: yields until some goroutine of this runtime is parked in
// the netpoller.
void wait_io_parked() {
  while (goro::debug::dump().find("[IO wait") == std::string::npos) goro::yield();
}

}  // namespace

// Go: TestUDPConnLocalAndRemoteNames, TestWriteToUDP (testWriteToPacketConn).
TEST_CASE("udp: round trip over IPv4 loopback; local and remote addresses", "[udp]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string server_addr, server_raddr, client_laddr, client_raddr, seen_sender, echoed, echo_from;
  std::string unconnected_got, unconnected_from, unconnected_laddr, error;
  goro::run(
      [&] {
        goro::net::packet_conn server = goro::net::listen_packet("127.0.0.1:0");
        server_addr = server.local_addr();
        server_raddr = server.remote_addr();
        goro::wait_group wg;
        wg.go([&] {  // echoes two datagrams to their senders
          try {
            std::byte buf[256];
            for (int i = 0; i < 2; ++i) {
              auto [n, from] = server.read_from(buf);
              if (i == 0) seen_sender = from;
              server.write_to(std::span(buf, n), from);
            }
          } catch (const std::exception& e) {
            error = e.what();
          }
        });
        // A connected socket: write / read.
        goro::net::packet_conn client = goro::net::dial_udp(server_addr);
        client_laddr = client.local_addr();
        client_raddr = client.remote_addr();
        client.set_read_deadline(goro::now() + 10s);
        client.write(as_bytes(std::string("hello")));
        std::byte buf[256];
        echoed = as_string(std::span(buf, client.read(buf)));
        // An unconnected one: write_to / read_from.
        goro::net::packet_conn other = goro::net::listen_packet("127.0.0.1:0");
        unconnected_laddr = other.local_addr();
        other.set_read_deadline(goro::now() + 10s);
        other.write_to(as_bytes(std::string("world")), server_addr);
        auto [n, from] = other.read_from(buf);
        unconnected_got = as_string(std::span(buf, n));
        unconnected_from = from;
        wg.wait();
      },
      goro::config{.procs = procs});
  INFO(error);
  CHECK(error.empty());
  CHECK(server_addr.rfind("127.0.0.1:", 0) == 0);
  CHECK(port_of(server_addr) != "0");
  CHECK(server_raddr.empty());
  CHECK(client_laddr.rfind("127.0.0.1:", 0) == 0);
  CHECK(port_of(client_laddr) != "0");
  CHECK(client_raddr == server_addr);
  CHECK(seen_sender == client_laddr);
  CHECK(echoed == "hello");
  CHECK(unconnected_got == "world");
  CHECK(unconnected_from == server_addr);
  CHECK(unconnected_laddr.rfind("127.0.0.1:", 0) == 0);
}

TEST_CASE("udp: IPv6 loopback and the wildcard address", "[udp]") {
  bool have_v6 = false;
  std::string v6_addr, v6_from, v6_got, wild_addr, wild_got, error;
  goro::run(
      [&] {
        // ":0": the wildcard, dual-stack [::] as listen's when IPv6 is
        // available (else 0.0.0.0), reachable through 127.0.0.1.
        goro::net::packet_conn wild = goro::net::listen_packet(":0");
        wild_addr = wild.local_addr();
        wild.set_read_deadline(goro::now() + 10s);
        goro::net::packet_conn c = goro::net::dial_udp("127.0.0.1:" + port_of(wild_addr));
        c.write(as_bytes(std::string("any")));
        std::byte buf[64];
        wild_got = as_string(std::span(buf, wild.read_from(buf).first));

        goro::net::packet_conn s6;
        try {
          s6 = goro::net::listen_packet("[::1]:0");
          have_v6 = true;
        } catch (const std::system_error&) {
          return;  // no IPv6 on this machine
        }
        v6_addr = s6.local_addr();
        s6.set_read_deadline(goro::now() + 10s);
        goro::net::packet_conn c6 = goro::net::listen_packet("[::1]:0");
        c6.write_to(as_bytes(std::string("six")), v6_addr);
        auto [n, from] = s6.read_from(buf);
        v6_got = as_string(std::span(buf, n));
        v6_from = from;
        if (from != c6.local_addr()) error = "sender " + from + " is not " + c6.local_addr();
      },
      goro::config{.procs = 2});
  INFO(error);
  CHECK(error.empty());
  CHECK(wild_addr.rfind(have_v6 ? "[::]:" : "0.0.0.0:", 0) == 0);
  CHECK(wild_got == "any");
  if (!have_v6) {
    WARN("IPv6 loopback not available: [::1] part skipped");
    return;
  }
  CHECK(v6_addr.rfind("[::1]:", 0) == 0);
  CHECK(v6_from.rfind("[::1]:", 0) == 0);
  CHECK(v6_got == "six");
}

TEST_CASE("udp: datagram boundaries are kept; the largest datagram; EMSGSIZE", "[udp]") {
  auto procs = GENERATE(1u, 2u, 4u);
  // Small enough in total for the default receive buffer: all are sent
  // before any is read.
  const std::vector<std::size_t> sizes = {1, 7, 100, 1400, 9000, 3, 512};
  std::vector<std::string> got;
  std::string big_got, error;
  bool emsgsize = false;
  int emsgsize_errno = 0;
  goro::run(
      [&] {
        goro::net::packet_conn r = goro::net::listen_packet("127.0.0.1:0");
        goro::net::packet_conn w = goro::net::dial_udp(r.local_addr());
        r.set_read_deadline(goro::now() + 10s);
        for (std::size_t i = 0; i < sizes.size(); ++i) w.write(as_bytes(pattern(sizes[i], static_cast<unsigned>(i))));
        std::vector<std::byte> buf(70000);
        for (std::size_t i = 0; i < sizes.size(); ++i) got.push_back(as_string(std::span(buf.data(), r.read(buf))));
        // The largest IPv4 UDP payload, alone.
        const std::string big = pattern(65507, 99);
        w.write(as_bytes(big));
        big_got = as_string(std::span(buf.data(), r.read_from(buf).first));
        goro::net::packet_conn u = goro::net::listen_packet("127.0.0.1:0");
        try {
          u.write_to(as_bytes(pattern(65508, 1)), r.local_addr());
        } catch (const goro::net::error& e) {
          emsgsize = true;
          emsgsize_errno = e.code().value();
          error = e.what();
        }
      },
      goro::config{.procs = procs});
  REQUIRE(got.size() == sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    INFO("datagram " << i);
    CHECK(got[i] == pattern(sizes[i], static_cast<unsigned>(i)));
  }
  CHECK(big_got == pattern(65507, 99));
  INFO(error);
  CHECK(emsgsize);
  CHECK(emsgsize_errno == EMSGSIZE);
}

// Go: TestUDPReadSizeError (a datagram larger than the buffer: the buffer's
// worth, no error, on Linux), TestUDPZeroByteBuffer (read_from with an empty
// buffer takes a datagram).
TEST_CASE("udp: a datagram larger than the buffer is truncated; the rest is dropped", "[udp]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::size_t n1 = 0, n2 = 0, n_empty = 99, n_read_empty = 99;
  std::string g1, g2, next, after_empty, error;
  goro::run(
      [&] {
        goro::net::packet_conn r = goro::net::listen_packet("127.0.0.1:0");
        goro::net::packet_conn w = goro::net::dial_udp(r.local_addr());
        r.set_read_deadline(goro::now() + 10s);
        const std::string msg = "READ SIZE ERROR TEST";
        w.write(as_bytes(msg));
        w.write(as_bytes(msg));
        w.write(as_bytes(std::string("next")));
        w.write(as_bytes(std::string("dropped by an empty buffer")));
        w.write(as_bytes(std::string("after")));
        std::byte small[19];
        auto [a, from] = r.read_from(small);
        n1 = a;
        g1 = as_string(std::span(small, a));
        n2 = r.read(small);
        g2 = as_string(std::span(small, n2));
        std::byte buf[64];
        next = as_string(std::span(buf, r.read(buf)));
        n_empty = r.read_from(std::span<std::byte>()).first;
        n_read_empty = r.read(std::span<std::byte>());  // Go: returns at once
        after_empty = as_string(std::span(buf, r.read(buf)));
      },
      goro::config{.procs = procs});
  CHECK(n1 == 19);
  CHECK(g1 == "READ SIZE ERROR TES");
  CHECK(n2 == 19);
  CHECK(g2 == "READ SIZE ERROR TES");
  CHECK(next == "next");
  CHECK(n_empty == 0);
  CHECK(n_read_empty == 0);
  CHECK(after_empty == "after");
}

// Go: TestUDPZeroBytePayload.
TEST_CASE("udp: empty datagrams are sent and received", "[udp]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::size_t wrote = 99, wrote_connected = 99, n_from = 99, n_read = 99;
  std::string from, self, tail;
  goro::run(
      [&] {
        goro::net::packet_conn c = goro::net::listen_packet("127.0.0.1:0");
        self = c.local_addr();
        c.set_read_deadline(goro::now() + 30s);
        wrote = c.write_to(std::span<const std::byte>(), c.local_addr());
        std::byte b[1];
        auto [n, f] = c.read_from(b);
        n_from = n;
        from = f;
        goro::net::packet_conn d = goro::net::dial_udp(c.local_addr());
        wrote_connected = d.write(std::span<const std::byte>());
        n_read = c.read(b);
        d.write(as_bytes(std::string("z")));
        tail = as_string(std::span(b, c.read(b)));
      },
      goro::config{.procs = procs});
  CHECK(wrote == 0);
  CHECK(n_from == 0);
  CHECK(from == self);
  CHECK(wrote_connected == 0);
  CHECK(n_read == 0);
  CHECK(tail == "z");
}

// Go: TestUDPReadTimeout (a deadline already past), and conn's deadline cases.
TEST_CASE("udp: deadlines: past, passing, moved while a read_from is parked", "[udp][deadline]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool past_at_once = false, code_ok = false, fired = false, usable_after = false, write_past = false;
  bool moved_past_woke = false, shortened_woke = false;
  double fired_after = 0, moved_after = 0, shortened_after = 0;
  goro::run(
      [&] {
        goro::net::packet_conn c = goro::net::listen_packet("127.0.0.1:0");
        std::byte buf[16];
        // Past: at once.
        c.set_deadline(goro::now() - 1ms);
        auto t0 = std::chrono::steady_clock::now();
        try {
          c.read_from(buf);
        } catch (const goro::timeout_error& e) {
          past_at_once = secs_since(t0) < 1.0;
          code_ok = e.code() == std::errc::timed_out;
        }
        try {
          c.write_to(as_bytes(std::string("x")), c.local_addr());
        } catch (const goro::timeout_error&) {
          write_past = true;
        }
        // Future: fires.
        c.set_deadline(goro::now() + 50ms);
        t0 = std::chrono::steady_clock::now();
        try {
          c.read_from(buf);
        } catch (const goro::timeout_error&) {
          fired = true;
          fired_after = secs_since(t0);
        }
        // Extended: usable again.
        c.set_deadline(goro::now() + 10s);
        c.write_to(as_bytes(std::string("ok")), c.local_addr());
        usable_after = as_string(std::span(buf, c.read_from(buf).first)) == "ok";
        // Parked with no deadline; the deadline is then set in the past.
        c.set_read_deadline(goro::clock::time_point::max());
        goro::wait_group wg;
        std::chrono::steady_clock::time_point t_set;
        wg.go([&] {
          std::byte b[8];
          try {
            c.read_from(b);
          } catch (const goro::timeout_error&) {
            moved_past_woke = true;
            moved_after = secs_since(t_set);
          }
        });
        wait_io_parked();
        t_set = std::chrono::steady_clock::now();
        c.set_read_deadline(goro::now() - 1s);
        wg.wait();
        // Parked with a far deadline; the deadline is then brought near.
        c.set_read_deadline(goro::now() + 1h);
        wg.go([&] {
          std::byte b[8];
          try {
            c.read_from(b);
          } catch (const goro::timeout_error&) {
            shortened_woke = true;
            shortened_after = secs_since(t_set);
          }
        });
        wait_io_parked();
        t_set = std::chrono::steady_clock::now();
        c.set_read_deadline(goro::now() + 50ms);
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(past_at_once);
  CHECK(code_ok);
  CHECK(write_past);
  CHECK(fired);
  CHECK(fired_after >= 0.045);
  CHECK(fired_after < 5.0);
  CHECK(usable_after);
  CHECK(moved_past_woke);
  CHECK(moved_after < 1.0);
  CHECK(shortened_woke);
  CHECK(shortened_after >= 0.045);
  CHECK(shortened_after < 5.0);
}

TEST_CASE("udp: close from another goroutine wakes a parked read_from with closed_error", "[udp][close]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> woke_closed{0};
  std::atomic<int> codes_ok{0};  // the three readers count here
  bool use_after = false, double_close = false, addr_after = false;
  std::string other;
  goro::run(
      [&] {
        goro::net::packet_conn c = goro::net::listen_packet("127.0.0.1:0");
        goro::net::packet_conn d = goro::net::dial_udp(c.local_addr());
        goro::wait_group wg;
        auto reader = [&](goro::net::packet_conn& pc, bool from) {
          std::byte b[8];
          try {
            if (from) pc.read_from(b);
            else pc.read(b);
            other = "read returned";
          } catch (const goro::net::closed_error& e) {
            woke_closed.fetch_add(1);
            if (e.code() == std::errc::bad_file_descriptor) codes_ok.fetch_add(1);
          } catch (const std::exception& e) {
            other = e.what();
          }
        };
        wg.go([&] { reader(c, true); });
        wg.go([&] { reader(c, true); });
        wg.go([&] { reader(d, false); });
        wait_io_parked();
        wg.go([&] {  // the closers: other goroutines than the readers
          c.close();  // returns once both readers have left
          d.close();
        });
        wg.wait();
        std::byte b[8];
        try {
          c.read_from(b);
        } catch (const goro::net::closed_error&) {
          use_after = true;
        }
        try {
          c.close();
        } catch (const goro::net::closed_error&) {
          double_close = true;
        }
        addr_after = !c.local_addr().empty();  // the object is still there: close keeps the names
      },
      goro::config{.procs = procs});
  INFO(other);
  CHECK(other.empty());
  CHECK(woke_closed.load() == 3);
  CHECK(codes_ok.load() == 3);
  CHECK(use_after);
  CHECK(double_close);
  CHECK(addr_after);
}

// Go: TestWriteToUDP (testWriteToConn: ErrWriteToConnected; write on an
// unconnected socket fails).
TEST_CASE("udp: connected sockets: write_to refused, write needs a peer; names as destinations", "[udp]") {
  auto procs = GENERATE(1u, 2u);
  bool write_to_connected = false, write_unconnected = false;
  int connected_errno = 0, unconnected_errno = 0;
  std::string connected_what, via_name, via_name_from, sender;
  goro::run(
      [&] {
        goro::net::packet_conn s = goro::net::listen_packet("127.0.0.1:0");
        s.set_read_deadline(goro::now() + 10s);
        goro::net::packet_conn d = goro::net::dial_udp(s.local_addr());
        try {
          d.write_to(as_bytes(std::string("CONNECTED-MODE SOCKET")), s.local_addr());
        } catch (const goro::net::error& e) {
          write_to_connected = true;
          connected_errno = e.code().value();
          connected_what = e.what();
        }
        goro::net::packet_conn u = goro::net::listen_packet("127.0.0.1:0");
        try {
          u.write(as_bytes(std::string("UNCONNECTED-MODE SOCKET")));
        } catch (const goro::net::error& e) {
          write_unconnected = true;
          unconnected_errno = e.code().value();
        }
        // A name as the destination (resolved as dial does), from both.
        u.write_to(as_bytes(std::string("by name")), "localhost:" + port_of(s.local_addr()));
        std::byte b[64];
        auto [n, from] = s.read_from(b);
        via_name = as_string(std::span(b, n));
        via_name_from = from;
        sender = u.local_addr();
      },
      goro::config{.procs = procs});
  INFO(connected_what);
  CHECK(write_to_connected);
  CHECK(connected_errno == EISCONN);
  CHECK(write_unconnected);
  CHECK(unconnected_errno == EDESTADDRREQ);
  CHECK(via_name == "by name");
  CHECK(via_name_from == sender);
}

// A datagram to a closed port draws an ICMP port unreachable; on a connected
// socket Linux reports it to a later call as ECONNREFUSED (Go gives the same
// error from Read). Loopback does not rate-limit it.
TEST_CASE("udp: ICMP port unreachable gives ECONNREFUSED from a connected socket's read", "[udp]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool refused = false, in_read = false;
  std::string what, other, addrs;
  goro::run(
      [&] {
        std::string dead;
        {
          goro::net::packet_conn tmp = goro::net::listen_packet("127.0.0.1:0");
          dead = tmp.local_addr();
        }  // closed: nobody receives on that port now
        goro::net::packet_conn c = goro::net::dial_udp(dead);
        addrs = c.local_addr() + "->" + dead;
        std::byte b[8];
        for (int attempt = 0; attempt < 5 && !refused; ++attempt) {
          bool reading = false;
          try {
            c.write(as_bytes(std::string("anyone?")));
            reading = true;
            c.set_read_deadline(goro::now() + 2s);
            c.read(b);
            other = "read returned data";
          } catch (const goro::net::error& e) {
            if (e.code().value() == ECONNREFUSED) {
              refused = true;
              in_read = reading;
              what = e.what();
            } else {
              other = e.what();
            }
          } catch (const goro::timeout_error&) {
            // not reported yet: send again
          }
        }
      },
      goro::config{.procs = procs});
  INFO(other);
  CHECK(refused);
  // Go's texts: the read's usually; the next write's if the report came
  // after a read timed out.
  if (in_read) CHECK(what == "read udp " + addrs + ": read: connection refused");
  else CHECK(what == "write udp " + addrs + ": write: connection refused");
}

TEST_CASE("udp: bad input and closed packet_conns give clear errors", "[udp]") {
  bool bad_listen = false, bad_dest = false, wrong_family = false, lookup_failed = false;
  bool closed_ops = true;
  std::string what;
  goro::run(
      [&] {
        try {
          goro::net::listen_packet("no-port");
        } catch (const goro::net::error& e) {
          bad_listen = e.code() == std::errc::invalid_argument;
        }
        goro::net::packet_conn c = goro::net::listen_packet("127.0.0.1:0");
        try {
          c.write_to(as_bytes(std::string("x")), "127.0.0.1");
        } catch (const goro::net::error& e) {
          bad_dest = e.code() == std::errc::invalid_argument;
        }
        try {
          c.write_to(as_bytes(std::string("x")), "[::1]:9");
        } catch (const goro::net::error& e) {
          wrong_family = e.code() == std::errc::address_family_not_supported;
          what = e.what();
        }
        try {
          c.write_to(as_bytes(std::string("x")), "no-such-host.invalid:9");
        } catch (const goro::net::error&) {
          lookup_failed = true;
        }
        goro::net::packet_conn none;
        std::byte b[4];
        auto expect_closed = [&](auto f) {
          try {
            f();
            closed_ops = false;
          } catch (const goro::net::closed_error&) {
          }
        };
        expect_closed([&] { none.read_from(b); });
        expect_closed([&] { none.read(b); });
        expect_closed([&] { none.write(b); });
        expect_closed([&] { none.write_to(b, "127.0.0.1:9"); });
        expect_closed([&] { none.close(); });
        expect_closed([&] { (void)none.local_addr(); });
        expect_closed([&] { none.set_deadline(goro::now()); });
        if (none.native_handle() != -1) closed_ops = false;
        goro::net::packet_conn moved = std::move(c);
        expect_closed([&] { c.read(b); });
        if (moved.native_handle() < 0) closed_ops = false;
      },
      goro::config{.procs = 1});
  CHECK(bad_listen);
  CHECK(bad_dest);
  INFO(what);
  CHECK(wrong_family);
  CHECK(lookup_failed);
  CHECK(closed_ops);
}

// The errors' what() is Go's net.OpError text (net.go, OpError.Error;
// udpsock_posix.go): the operation, "udp", local->remote (for write_to the
// destination; the local address alone on an unconnected socket), then the
// cause.
TEST_CASE("udp: errors read as Go's net.OpError", "[udp][errors]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::string> got, want;
  std::vector<int> codes;  // the errno of each net::error, in order
  std::string other;
  goro::run(
      [&] {
        auto expect = [&](const std::string& text, auto f) {
          want.push_back(text);
          try {
            f();
            got.push_back("(no exception)");
          } catch (const goro::net::error& e) {
            got.push_back(e.what());
            codes.push_back(e.code().value());
          } catch (const std::exception& e) {  // timeout_error, closed_error
            got.push_back(e.what());
          }
        };
        std::byte b[16];
        goro::net::packet_conn c = goro::net::listen_packet("127.0.0.1:0");
        const std::string l = c.local_addr();
        goro::net::packet_conn d = goro::net::dial_udp(l);
        const std::string dl = d.local_addr();
        goro::net::packet_conn u = goro::net::listen_packet("127.0.0.1:0");
        const std::string ul = u.local_addr();
        // Past deadlines (Go: TestUDPReadTimeout's error).
        c.set_read_deadline(goro::now() - 1ms);
        expect("read udp " + l + ": i/o timeout", [&] { c.read_from(b); });
        expect("read udp " + l + ": i/o timeout", [&] { c.read(b); });
        d.set_read_deadline(goro::now() - 1ms);
        expect("read udp " + dl + "->" + l + ": i/o timeout", [&] { d.read(b); });
        // Go: TestWriteToUDP (ErrWriteToConnected).
        expect("write udp " + dl + "->" + l + ": use of WriteTo with pre-connected connection",
               [&] { d.write_to(as_bytes(std::string("x")), l); });
        expect("write udp " + ul + ": write: destination address required", [&] { u.write(as_bytes(std::string("x"))); });
        expect("write udp " + ul + "->" + l + ": sendto: message too long", [&] { u.write_to(as_bytes(pattern(65508, 1)), l); });
        expect("write udp " + ul + "->[::1]:9: no address of the socket's family",
               [&] { u.write_to(as_bytes(std::string("x")), "[::1]:9"); });
        expect("listen udp " + l + ": bind: address already in use", [&] { goro::net::listen_packet(l); });
        // A parked read_from woken by close, then every call on the closed socket.
        goro::net::packet_conn p = goro::net::listen_packet("127.0.0.1:0");
        const std::string pl = p.local_addr();
        std::string woken;
        goro::wait_group wg;
        wg.go([&] {
          try {
            p.read_from(b);
            woken = "read_from returned";
          } catch (const goro::net::closed_error& e) {
            woken = e.what();
          } catch (const std::exception& e) {
            other = e.what();
          }
        });
        wait_io_parked();
        p.close();
        wg.wait();
        want.push_back("read udp " + pl + ": use of closed network connection");
        got.push_back(woken);
        c.close();
        expect("read udp " + l + ": use of closed network connection", [&] { c.read_from(b); });
        expect("write udp " + l + "->127.0.0.1:9: use of closed network connection",
               [&] { c.write_to(as_bytes(std::string("x")), "127.0.0.1:9"); });
        expect("close udp " + l + ": use of closed network connection", [&] { c.close(); });
        expect("set udp " + l + ": use of closed network connection", [&] { c.set_deadline(goro::now()); });
        d.close();
        expect("read udp " + dl + "->" + l + ": use of closed network connection", [&] { d.read(b); });
        expect("write udp " + dl + "->" + l + ": use of closed network connection", [&] { d.write(b); });
        goro::net::packet_conn none;
        expect("read: use of closed network connection", [&] { none.read_from(b); });
      },
      goro::config{.procs = procs});
  INFO(other);
  CHECK(other.empty());
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i]);
  CHECK(codes == std::vector<int>{EISCONN, EDESTADDRREQ, EMSGSIZE, EAFNOSUPPORT, EADDRINUSE});
}

// Many goroutines on one server socket (several readers at once) and one
// socket per client, each client with one datagram in flight at a time, so
// loopback drops nothing: every echo must come back, in order.
TEST_CASE("udp: many goroutines exchanging datagrams concurrently", "[udp][stress]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int clients = 8, readers = 4;
  const long per_client = goro_test::scale(300);
  std::atomic<long> echoed{0}, wrong{0}, failed{0};
  std::string fail_what;
  int fds_before = goro_test::open_fd_count(), fds_after = 0;
  goro::run(
      [&] {
        goro::net::packet_conn server = goro::net::listen_packet("127.0.0.1:0");
        std::string addr = server.local_addr();
        goro::wait_group srv, cli;
        for (int r = 0; r < readers; ++r)
          srv.go([&] {
            std::byte buf[128];
            try {
              for (;;) {
                auto [n, from] = server.read_from(buf);
                server.write_to(std::span(buf, n), from);
              }
            } catch (const goro::net::closed_error&) {
            } catch (const std::exception& e) {
              if (failed.fetch_add(1) == 0) fail_what = e.what();
            }
          });
        for (int c = 0; c < clients; ++c)
          cli.go([&, c] {
            try {
              goro::net::packet_conn pc = goro::net::dial_udp(addr);
              pc.set_read_deadline(goro::now() + 60s);  // a generous bound, never reached on loopback
              std::byte buf[128];
              for (long i = 0; i < per_client; ++i) {
                std::string msg = std::to_string(c) + ":" + std::to_string(i);
                pc.write(as_bytes(msg));
                if (as_string(std::span(buf, pc.read(buf))) == msg) echoed.fetch_add(1);
                else wrong.fetch_add(1);
              }
            } catch (const std::exception& e) {
              if (failed.fetch_add(1) == 0) fail_what = e.what();
            }
          });
        cli.wait();
        server.close();
        srv.wait();
      },
      goro::config{.procs = procs});
  fds_after = goro_test::open_fd_count();
  INFO(fail_what);
  CHECK(failed.load() == 0);
  CHECK(wrong.load() == 0);
  CHECK(echoed.load() == clients * per_client);
  CHECK(fds_after == fds_before);
}

// As net_test's issue-13 cases: A owns a packet_conn and parks in read_from;
// B closes it; A returns and destroys the packet_conn at once, possibly while
// B's close() is still running. close() must complete normally, A must see
// closed_error, and no fd may be left open.
TEST_CASE("udp: close() from another goroutine while the owner destroys the packet_conn", "[udp][close][race]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long rounds = goro_test::scale(200);
  std::atomic<long> woke_closed{0}, other{0};
  std::string other_what;
  int fds_before = goro_test::open_fd_count();
  goro::run(
      [&] {
        for (long i = 0; i < rounds; ++i) {
          goro::chan<goro::net::packet_conn*> handle(1);
          goro::wait_group wg;
          wg.go([&] {  // A
            try {
              goro::net::packet_conn c = goro::net::listen_packet("127.0.0.1:0");
              handle.send(&c);
              std::byte b[8];
              c.read_from(b);
              if (other.fetch_add(1) == 0) other_what = "read_from returned";
            } catch (const goro::net::closed_error&) {
              woke_closed.fetch_add(1);
            } catch (const std::exception& e) {
              if (other.fetch_add(1) == 0) other_what = e.what();
            }
          });  // ~packet_conn: possibly while B is still inside close()
          wg.go([&, i] {  // B
            goro::net::packet_conn* c = *handle.recv();
            if (i % 2 == 0) wait_io_parked();
            try {
              c->close();
            } catch (const std::exception& e) {
              if (other.fetch_add(1) == 0) other_what = std::string("close: ") + e.what();
            }
          });
          wg.wait();
        }
      },
      goro::config{.procs = procs});
  INFO(other_what);
  CHECK(other.load() == 0);
  CHECK(woke_closed.load() == rounds);
  CHECK(goro_test::open_fd_count() == fds_before);
}
