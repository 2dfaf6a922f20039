// parked — goro's version of the `parked` workload defined in docs/benchmarks.md
// (section "parked"), the one definition shared with the Go and Boost.Fiber peers
// under bench/peers/. It measures resident memory per blocked goroutine; nothing is
// timed.
//
// N goroutines each count themselves started, then block receiving from one
// unbuffered channel; once all have started, VmRSS is read, and closing the
// channel releases them all.
//
// Usage: parked [N]   (N defaults to 1000000). Build from the repo root:
//   g++ -O2 -std=c++20 -pthread -I. bench/parked.cpp
#include "goro.hpp"

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>

namespace {

// vm_rss_bytes returns VmRSS from /proc/self/status in bytes, or -1.
long long vm_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long long kb = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmRSS: %lld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

// label names N as docs/benchmarks.md, "parked", says: 1M, 100k, or the plain number.
std::string label(long n) {
  if (n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n % 1'000 == 0) return std::to_string(n / 1'000) + "k";
  return std::to_string(n);
}

}  // namespace

int main(int argc, char** argv) try {
  long n = 1'000'000;
  if (argc > 1) {
    const char* end = argv[1] + std::strlen(argv[1]);
    auto [p, ec] = std::from_chars(argv[1], end, n);
    if (ec != std::errc{} || p != end || n <= 0) {
      std::fprintf(stderr, "usage: parked [N > 0]\n");
      return 2;
    }
  }

  long long before = -1, after = -1;
  std::atomic<long> started{0}, released{0};

  goro::run(
      [&] {
        before = vm_rss_bytes();
        goro::chan<int> gate;           // unbuffered: every receive blocks until close
        goro::wait_group all_started;   // reaches 0 when every goroutine has counted itself
        goro::wait_group all_released;  // reaches 0 when every goroutine has been released
        all_started.add(n);
        all_released.add(n);
        for (long i = 0; i < n; ++i) {
          goro::go([&, gate] {
            started.fetch_add(1);
            all_started.done();
            (void)gate.recv();  // returns nullopt (closed) once main closes the channel
            released.fetch_add(1);
            all_released.done();
          });
        }
        all_started.wait();
        after = vm_rss_bytes();
        gate.close();  // release them all
        all_released.wait();
      },
      goro::config{.procs = 2});

  if (released.load() != n) {
    std::fprintf(stderr, "CHECK FAILED: released %ld, want %ld\n", released.load(), n);
    return 1;
  }
  if (before < 0 || after < 0) {
    std::fprintf(stderr, "CHECK FAILED: cannot read VmRSS from /proc/self/status\n");
    return 1;
  }
  if (after <= before) {
    std::fprintf(stderr, "CHECK FAILED: after (%lld B) <= before (%lld B)\n", after, before);
    return 1;
  }
  double per_g = double(after - before) / double(n);
  std::printf("parked bytes_per_g_%s=%.0f B n=%ld released=%ld\n", label(n).c_str(), per_g, n,
              released.load());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "parked: error: %s\n", e.what());
  return 1;
}
