// echo — goro's version of the `echo` workload defined in docs/benchmarks.md (section
// "echo"), the one definition shared with the Go peer under bench/peers/go/echo.
//
// procs 2. A listener on 127.0.0.1:0 accepts exactly 64 connections and serves
// each in its own goroutine: read exactly 64 bytes, write them back, until EOF.
// 64 client goroutines dial (TCP_NODELAY on) and wait for a common start
// signal; then, until the stop flag is set, each writes a 64-byte message
// (bytes 0-7: client id, 8-15: round-trip counter, little endian; the rest
// zero), reads exactly 64 bytes back and compares them. The main goroutine
// waits until all 64 have dialed, starts the clock, releases them, sleeps 2 s,
// sets the stop flag, waits for every client to finish its round trip in
// flight and close, stops the clock, then waits for the server goroutines to
// see EOF and closes the listener. A watchdog exits non-zero after 32 s.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/echo.cpp
#include "goro.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

constexpr int conns = 64;
constexpr std::size_t msg_bytes = 64;
constexpr auto run_for = std::chrono::seconds(2);

using msg = std::array<std::byte, msg_bytes>;

// read_full reads exactly buf.size() bytes; false at EOF before the first
// byte; throws on EOF in the middle.
bool read_full(goro::net::conn& c, std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = c.read(buf.subspan(got));
    if (n == 0) {
      if (got == 0) return false;
      throw std::runtime_error("EOF in the middle of a message");
    }
    got += n;
  }
  return true;
}

void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}

std::mutex error_mu;
std::string first_error;  // error_mu
std::atomic<int> errors{0};

void note_error(const std::string& what) {
  errors.fetch_add(1);
  std::lock_guard<std::mutex> lk(error_mu);
  if (first_error.empty()) first_error = what;
}

}  // namespace

int main() try {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(32));
    std::fprintf(stderr, "echo: watchdog: still running after 32 s\n");
    std::_Exit(2);
  }).detach();

  std::atomic<std::int64_t> rts{0};
  std::atomic<long> mismatches{0};
  double secs = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        std::string addr = ln.addr();
        goro::wait_group servers;
        servers.go([&] {
          for (int i = 0; i < conns; ++i) {
            goro::net::conn c = ln.accept();
            servers.go([](goro::net::conn c) {
              try {
                msg buf;
                while (read_full(c, buf)) c.write(buf);
              } catch (const std::exception& e) {
                note_error(std::string("server: ") + e.what());
              }
            }, std::move(c));
          }
        });

        goro::chan<int> start;  // closed to release the clients
        std::atomic<bool> stop{false};
        goro::wait_group dialed, clients;
        for (int id = 0; id < conns; ++id) {
          clients.add(1);
          dialed.add(1);
          goro::go([&, id] {
            std::int64_t n = 0;
            bool counted = false;  // dialed.done() called: a failed dial must count too, or main waits forever
            try {
              goro::net::conn c = goro::net::dial(addr);
              dialed.done();
              counted = true;
              start.recv();
              msg out{}, in{};
              put_u64(out.data(), static_cast<std::uint64_t>(id));
              while (!stop.load(std::memory_order_relaxed)) {
                put_u64(out.data() + 8, static_cast<std::uint64_t>(n));
                c.write(out);
                if (!read_full(c, in)) throw std::runtime_error("unexpected EOF");
                if (in != out) mismatches.fetch_add(1);
                ++n;
              }
              c.close();
            } catch (const std::exception& e) {
              note_error(std::string("client: ") + e.what());
              if (!counted) dialed.done();
            }
            rts.fetch_add(n);
            clients.done();
          });
        }
        dialed.wait();
        auto t0 = std::chrono::steady_clock::now();
        start.close();
        goro::sleep_for(run_for);
        stop.store(true);
        clients.wait();
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        servers.wait();
        ln.close();
      },
      goro::config{.procs = 2});

  if (errors.load() != 0 || mismatches.load() != 0 || rts.load() <= 0) {
    std::fprintf(stderr, "CHECK FAILED: %d I/O errors (first: %s), %ld mismatched echoes, %lld round trips\n", errors.load(),
                 first_error.c_str(), mismatches.load(), static_cast<long long>(rts.load()));
    return 1;
  }
  std::printf("echo rt_per_s=%.0f rt/s conns=%d msg_bytes=%zu secs=%.3f rts=%lld\n", static_cast<double>(rts.load()) / secs,
              conns, msg_bytes, secs, static_cast<long long>(rts.load()));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "echo: error: %s\n", e.what());
  return 1;
}
