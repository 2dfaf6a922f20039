// epoll_echo — the bare-loop peer of goro's bench/echo.cpp: the same workload
// (docs/benchmarks.md, section "echo") with no runtime at all, as two
// hand-written level-triggered epoll loops on two threads. It is the floor a
// runtime's netpoller is measured against: what the kernel's socket calls cost
// on this machine when nothing else runs.
//
// A listener on 127.0.0.1:0. The client thread dials 64 connections
// (TCP_NODELAY on, non-blocking); the server thread accepts exactly 64 and
// serves them from one epoll loop: read what is there, write back each whole
// 64-byte message, until EOF. The client thread waits until the server has
// accepted all 64 (the common start), starts the clock, writes each
// connection's first message (bytes 0-7: client id, 8-15: round-trip counter,
// little endian; the rest zero) and then runs its own epoll loop: when a
// connection has 64 bytes back, compare them with its message, count the round
// trip and, until 2 s have passed, write the next one. After the stop it
// finishes the round trips in flight, closes every connection and stops the
// clock; the server loop ends when all 64 have reached EOF. A watchdog exits
// non-zero after 32 s.
// Build: g++ -O2 -std=c++20 -pthread bench/peers/epoll_echo.cpp
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace {

constexpr int conns = 64;
constexpr std::size_t msg_bytes = 64;
constexpr auto run_for = std::chrono::seconds(2);

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "echo: error: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void put_u64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

std::atomic<int> accepted{0};
std::atomic<long> io_errors{0};

// One accepted connection: bytes read but not yet echoed, and bytes of echo
// not yet written (a short write leaves the rest in out).
struct server_conn {
  int fd = -1;
  std::array<unsigned char, msg_bytes> in{};
  std::size_t have = 0;
  std::array<unsigned char, msg_bytes> out{};
  std::size_t out_off = 0, out_len = 0;
  bool open = true;
};

void server(int lfd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  static server_conn sc[conns];
  for (int i = 0; i < conns; ++i) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) die("accept4");
    sc[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
  }
  accepted.store(conns);
  int open = conns;
  epoll_event evs[conns];
  while (open > 0) {
    int n = epoll_wait(ep, evs, conns, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; ++k) {
      server_conn& c = sc[evs[k].data.u32];
      if (!c.open) continue;
      if (c.out_len > c.out_off) {  // finish a short write first (EPOLLOUT is on)
        ssize_t w = write(c.fd, c.out.data() + c.out_off, c.out_len - c.out_off);
        if (w < 0 && errno != EAGAIN) {
          io_errors.fetch_add(1);
          c.open = false;
          close(c.fd);
          --open;
          continue;
        }
        if (w > 0) c.out_off += static_cast<std::size_t>(w);
        if (c.out_off < c.out_len) continue;
        c.out_off = c.out_len = 0;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = evs[k].data.u32;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      }
      ssize_t r = read(c.fd, c.in.data() + c.have, msg_bytes - c.have);
      if (r < 0) {
        if (errno == EAGAIN) continue;
        io_errors.fetch_add(1);
      }
      if (r <= 0) {  // EOF (or an error): the client is done with this connection
        if (r == 0 && c.have != 0) io_errors.fetch_add(1);  // EOF in the middle of a message
        c.open = false;
        close(c.fd);
        --open;
        continue;
      }
      c.have += static_cast<std::size_t>(r);
      if (c.have < msg_bytes) continue;
      c.have = 0;
      ssize_t w = write(c.fd, c.in.data(), msg_bytes);
      if (w == static_cast<ssize_t>(msg_bytes)) continue;
      if (w < 0 && errno != EAGAIN) {
        io_errors.fetch_add(1);
        continue;
      }
      c.out = c.in;
      c.out_off = w > 0 ? static_cast<std::size_t>(w) : 0;
      c.out_len = msg_bytes;
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u32 = evs[k].data.u32;
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }
  close(ep);
}

// One client connection: its message, and how much of the echo has come back.
struct client_conn {
  int fd = -1;
  std::array<unsigned char, msg_bytes> out{}, in{};
  std::size_t have = 0;
  std::uint64_t n = 0;  // round trips done
  bool busy = false;    // a message is in flight
};

// send writes c's next message whole (64 bytes fit an empty socket buffer; a
// short write would be an I/O error for this workload).
bool send_msg(client_conn& c) {
  put_u64(c.out.data() + 8, c.n);
  ssize_t w;
  do w = write(c.fd, c.out.data(), msg_bytes);
  while (w < 0 && errno == EINTR);
  if (w != static_cast<ssize_t>(msg_bytes)) return false;
  c.busy = true;
  c.have = 0;
  return true;
}

}  // namespace

int main() {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(32));
    std::fprintf(stderr, "echo: watchdog: still running after 32 s\n");
    std::_Exit(2);
  }).detach();

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(lfd, 128) != 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) die("getsockname");

  std::thread srv(server, lfd);

  static client_conn cc[conns];
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < conns; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt");
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) die("fcntl");
    cc[i].fd = fd;
    put_u64(cc[i].out.data(), static_cast<std::uint64_t>(i));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
  }
  while (accepted.load() != conns) std::this_thread::yield();

  long mismatches = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + run_for;
  int in_flight = 0;
  for (auto& c : cc) {
    if (!send_msg(c)) die("write");
    ++in_flight;
  }
  bool stop = false;
  epoll_event evs[conns];
  while (in_flight > 0) {
    int n = epoll_wait(ep, evs, conns, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    // The stop flag, read once per wake-up (the goroutine programs read it once
    // per round trip; a wake-up serves up to 64 of them).
    if (!stop && std::chrono::steady_clock::now() >= deadline) stop = true;
    for (int k = 0; k < n; ++k) {
      client_conn& c = cc[evs[k].data.u32];
      if (!c.busy) continue;
      ssize_t r = read(c.fd, c.in.data() + c.have, msg_bytes - c.have);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        io_errors.fetch_add(1);
        c.busy = false;
        --in_flight;
        continue;
      }
      c.have += static_cast<std::size_t>(r);
      if (c.have < msg_bytes) continue;
      if (c.in != c.out) ++mismatches;
      ++c.n;
      c.busy = false;
      --in_flight;
      if (stop) continue;
      if (!send_msg(c)) {
        io_errors.fetch_add(1);
        continue;
      }
      ++in_flight;
    }
  }
  for (auto& c : cc) close(c.fd);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  srv.join();
  close(ep);
  close(lfd);

  long long rts = 0;
  for (auto& c : cc) rts += static_cast<long long>(c.n);
  if (io_errors.load() != 0 || mismatches != 0 || rts <= 0) {
    std::fprintf(stderr, "CHECK FAILED: %ld I/O errors, %ld mismatched echoes, %lld round trips\n", io_errors.load(),
                 mismatches, rts);
    return 1;
  }
  std::printf("echo rt_per_s=%.0f rt/s conns=%d msg_bytes=%zu secs=%.3f rts=%lld\n", static_cast<double>(rts) / secs,
              conns, msg_bytes, secs, rts);
  return 0;
}
