// http — goro's version of the `http` workload defined in docs/benchmarks.md
// (section "http"), shared with the Go peers bench/peers/go/http (net/http)
// and bench/peers/go/http_raw (a raw net.Conn loop).
//
// procs 2. A minimal HTTP/1.1 keep-alive server on 127.0.0.1:0: one goroutine
// per connection reads requests into a buffer, parses each (request line,
// headers, a Content-Length body; "Connection: close" and HTTP/1.0 end the
// connection) and writes the fixed response "hello". A load generator in the
// same process: 256 client goroutines dial and wait for a common start; then,
// until the stop flag is set, each writes `GET / HTTP/1.1` with a Host header,
// reads the response (status line, headers, Content-Length body) and checks
// status 200 and body "hello", timing each request from its write to the
// response's last byte. The main goroutine sleeps 2 s between the release and
// the stop, waits for every client to finish its request in flight and close,
// then for the servers to see EOF. Output: requests/s and the p99 latency.
// A watchdog exits non-zero after 32 s.
// Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/http.cpp
#include "goro.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr int conns = 256;
constexpr auto run_for = std::chrono::seconds(2);
constexpr std::size_t buf_bytes = 4096;

constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello";

std::mutex error_mu;
std::string first_error;  // error_mu
std::atomic<int> errors{0};

void note_error(const std::string& what) {
  errors.fetch_add(1);
  std::lock_guard<std::mutex> lk(error_mu);
  if (first_error.empty()) first_error = what;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A message head: the first line and the headers this workload looks at.
struct head {
  std::string_view first_line;
  std::size_t content_length = 0;
  bool close = false;       // "Connection: close"
  bool keep_alive = false;  // "Connection: keep-alive"
};

// parse_head parses the head in s, which ends at its blank line ("\r\n\r\n"
// excluded); nullopt when malformed.
std::optional<head> parse_head(std::string_view s) {
  head h;
  std::size_t eol = s.find("\r\n");
  h.first_line = s.substr(0, eol);
  if (h.first_line.empty()) return std::nullopt;
  s = eol == std::string_view::npos ? std::string_view() : s.substr(eol + 2);
  while (!s.empty()) {
    eol = s.find("\r\n");
    std::string_view line = s.substr(0, eol);
    s = eol == std::string_view::npos ? std::string_view() : s.substr(eol + 2);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::size_t n = 0;
      if (value.empty() || value.size() > 9) return std::nullopt;
      for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      h.content_length = n;
    } else if (iequals(name, "connection")) {
      h.close = iequals(value, "close");
      h.keep_alive = iequals(value, "keep-alive");
    }
  }
  return h;
}

// A read buffer over a conn: [lo, hi) of data holds bytes read and not yet consumed.
struct reader {
  explicit reader(goro::net::conn& conn) : c(conn) {}

  goro::net::conn& c;
  char data[buf_bytes];
  std::size_t lo = 0, hi = 0;

  std::string_view buffered() const { return {data + lo, hi - lo}; }
  // fill reads more bytes; false at EOF.
  bool fill() {
    if (lo == hi) lo = hi = 0;
    if (hi == sizeof data) {  // compact; a head longer than the buffer is an error
      if (lo == 0) throw std::runtime_error("message head longer than the buffer");
      std::memmove(data, data + lo, hi - lo);
      hi -= lo;
      lo = 0;
    }
    std::size_t n = c.read(std::as_writable_bytes(std::span<char>(data + hi, sizeof data - hi)));
    hi += n;
    return n != 0;
  }
  // read_head returns the next message's head (its text stays valid until the
  // next fill) and consumes it; nullopt at EOF before its first byte.
  std::optional<std::string_view> read_head() {
    for (;;) {
      std::string_view b = buffered();
      std::size_t end = b.find("\r\n\r\n");
      if (end != std::string_view::npos) {
        lo += end + 4;
        return b.substr(0, end);
      }
      bool was_empty = b.empty();
      if (!fill()) {
        if (was_empty) return std::nullopt;
        throw std::runtime_error("EOF in the middle of a message head");
      }
    }
  }
  // read_body consumes n bytes and returns them (n fits the buffer).
  std::string_view read_body(std::size_t n) {
    if (n > sizeof data) throw std::runtime_error("body longer than the buffer");
    if (hi - lo < n && sizeof data - lo < n) {  // make room behind the buffered bytes
      std::memmove(data, data + lo, hi - lo);
      hi -= lo;
      lo = 0;
    }
    while (hi - lo < n)
      if (!fill()) throw std::runtime_error("EOF in the middle of a body");
    std::string_view b(data + lo, n);
    lo += n;
    return b;
  }
};

void write_all(goro::net::conn& c, std::string_view s) { c.write(std::as_bytes(std::span<const char>(s))); }

void serve(goro::net::conn c) {
  reader r(c);
  for (;;) {
    std::optional<std::string_view> text = r.read_head();
    if (!text) return;  // the client closed
    std::optional<head> h = parse_head(*text);
    if (!h) throw std::runtime_error("malformed request head");
    std::string_view line = h->first_line;
    std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) throw std::runtime_error("malformed request line");
    std::string_view version = line.substr(sp2 + 1);
    bool http10 = version == "HTTP/1.0";
    if (!http10 && version != "HTTP/1.1") throw std::runtime_error("unsupported HTTP version");
    if (h->content_length != 0) r.read_body(h->content_length);
    write_all(c, response);
    if (h->close || (http10 && !h->keep_alive)) return;
  }
}

}  // namespace

int main() try {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(32));
    std::fprintf(stderr, "http: watchdog: still running after 32 s\n");
    std::_Exit(2);
  }).detach();

  std::atomic<std::int64_t> reqs{0};
  std::atomic<long> bad{0};
  std::vector<std::vector<std::uint32_t>> lat(conns);  // client i's latencies in ns, written by client i only
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
                serve(std::move(c));
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
            std::vector<std::uint32_t>& mine = lat[static_cast<std::size_t>(id)];
            mine.reserve(4096);
            try {
              goro::net::conn c = goro::net::dial(addr);
              dialed.done();
              counted = true;
              start.recv();
              reader r(c);
              while (!stop.load(std::memory_order_relaxed)) {
                auto t0 = std::chrono::steady_clock::now();
                write_all(c, request);
                std::optional<std::string_view> text = r.read_head();
                if (!text) throw std::runtime_error("unexpected EOF");
                std::optional<head> h = parse_head(*text);
                if (!h || !h->first_line.starts_with("HTTP/1.1 200 ")) {
                  bad.fetch_add(1);
                  throw std::runtime_error("bad response head");
                }
                if (r.read_body(h->content_length) != "hello") bad.fetch_add(1);
                auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
                mine.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(ns.count(), UINT32_MAX)));
                ++n;
              }
              c.close();
            } catch (const std::exception& e) {
              note_error(std::string("client: ") + e.what());
              if (!counted) dialed.done();
            }
            reqs.fetch_add(n);
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

  if (errors.load() != 0 || bad.load() != 0 || reqs.load() <= 0) {
    std::fprintf(stderr, "CHECK FAILED: %d I/O errors (first: %s), %ld bad responses, %lld requests\n", errors.load(),
                 first_error.c_str(), bad.load(), static_cast<long long>(reqs.load()));
    return 1;
  }
  std::vector<std::uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  auto k = static_cast<std::ptrdiff_t>((all.size() - 1) * 99 / 100);
  std::nth_element(all.begin(), all.begin() + k, all.end());
  std::printf("http req_per_s=%.0f req/s p99_us=%.1f us conns=%d secs=%.3f reqs=%lld\n",
              static_cast<double>(reqs.load()) / secs, all[static_cast<std::size_t>(k)] / 1000.0, conns, secs,
              static_cast<long long>(reqs.load()));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "http: error: %s\n", e.what());
  return 1;
}
