// echo_server — a TCP echo server on goro::net, with a client that checks it.
// The server accepts in one goroutine and serves each connection in its own;
// every read and write parks the goroutine in the netpoller (epoll) until the
// socket is ready, so a few threads serve any number of connections. Twenty
// clients connect at once over loopback, send lines and check every echo.
// Closing the listener wakes the accepting goroutine with net::closed_error.
#include "goro.hpp"

#include <atomic>
#include <cstdio>
#include <string>

namespace {

std::atomic<int> served{0};

void echo(goro::net::conn c) {
  std::byte buf[4096];
  while (std::size_t n = c.read(buf)) c.write(std::span(buf, n));  // read returns 0 at EOF
  c.close();
  served.fetch_add(1);
}

// client sends `rounds` lines and checks that each comes back unchanged.
bool client(const std::string& addr, int id, int rounds) {
  goro::net::conn c = goro::net::dial(addr);
  c.set_deadline(goro::now() + std::chrono::seconds(20));  // a broken server fails the example, not hangs it
  for (int r = 0; r < rounds; ++r) {
    std::string line = "client " + std::to_string(id) + " line " + std::to_string(r) + "\n";
    c.write(std::as_bytes(std::span(line.data(), line.size())));
    std::string back;
    while (back.size() < line.size()) {
      char buf[256];
      std::size_t n = c.read(std::as_writable_bytes(std::span(buf, line.size() - back.size())));
      if (n == 0) return false;
      back.append(buf, n);
    }
    if (back != line) return false;
  }
  return true;
}

}  // namespace

int main() {
  constexpr int clients = 20, rounds = 50;
  int good = 0;
  bool accept_woken = false;
  goro::run([&] {
    goro::net::listener l = goro::net::listen("127.0.0.1:0");
    std::string addr = l.addr();
    std::printf("echo server on %s\n", addr.c_str());
    goro::wait_group server;
    server.go([&l, &accept_woken] {
      try {
        for (;;) goro::go(echo, l.accept());
      } catch (const goro::net::closed_error&) {
        accept_woken = true;  // l.close() below
      }
    });

    goro::chan<bool> results(clients);
    for (int i = 0; i < clients; ++i) goro::go([addr, i, results] { results.send(client(addr, i, rounds)); });
    for (int i = 0; i < clients; ++i) good += *results.recv();
    l.close();
    server.wait();
  });
  std::printf("%d of %d clients got all %d lines echoed back; the listener's close woke accept: %s\n", good, clients, rounds,
              accept_woken ? "yes" : "no");
  return good == clients && accept_woken ? 0 : 1;
}
