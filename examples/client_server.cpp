// client_server — seed 002's client-server exercise: a TCP server that serves
// each connection in its own goroutine, so slow clients do not wait for each
// other. The server writes the time to each client three times, 100 ms apart;
// three clients connect at once. Served one after another that would take
// 0.9 s; with a goroutine per connection it takes about 0.3 s.
//
// In Go the server is `for { conn, _ := l.Accept(); go handleConn(conn) }`; here
// it is the same loop over goro::net, whose accept/read/write park the goroutine
// in the netpoller (epoll), not the thread.
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

void write_str(goro::net::conn& c, const std::string& s) {
  c.write(std::as_bytes(std::span(s.data(), s.size())));
}

// handle_conn serves one client: three lines with the server's clock, then closes.
void handle_conn(goro::net::conn c) {
  for (int i = 0; i < 3; ++i) {
    std::time_t t = std::time(nullptr);
    char buf[64];
    std::tm tm{};
    ::localtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    write_str(c, std::string("response from server: ") + buf + "\n");
    goro::sleep_for(100ms);
  }
  c.close();
}

void serve(goro::net::listener& l) {
  try {
    for (;;) goro::go(handle_conn, l.accept());  // the conn moves into the goroutine
  } catch (const goro::net::closed_error&) {
    // l.close() woke accept: the server is done.
  }
}

// client reads everything the server sends and returns the number of lines.
int client(const std::string& addr, int id) {
  goro::net::conn c = goro::net::dial(addr);
  std::string got;
  std::byte buf[256];
  while (std::size_t n = c.read(buf)) got.append(reinterpret_cast<const char*>(buf), n);
  int lines = 0;
  for (char ch : got) lines += ch == '\n';
  std::printf("client %d got %d lines, the first: %s", id, lines, got.substr(0, got.find('\n') + 1).c_str());
  return lines;
}

}  // namespace

int main() {
  bool ok = true;
  auto t0 = std::chrono::steady_clock::now();
  goro::run([&ok] {
    goro::net::listener l = goro::net::listen("127.0.0.1:0");
    std::string addr = l.addr();
    std::printf("server listening on %s\n", addr.c_str());
    goro::wait_group server;
    server.go([&l] { serve(l); });  // l outlives this goroutine: main waits for it below

    goro::wait_group wg;
    std::vector<int> lines(3);
    for (int i = 0; i < 3; ++i) wg.go([&lines, addr, i] { lines[i] = client(addr, i + 1); });
    wg.wait();
    l.close();  // wakes serve's accept with net::closed_error
    server.wait();
    for (int n : lines) ok = ok && n == 3;
  });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("3 clients served %s\n", ms < 800 ? "concurrently (about 0.3 s in all)" : "one after another (too slow)");
  return ok && ms < 800 ? 0 : 1;
}
