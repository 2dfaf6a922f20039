// parked — the Boost.Fiber peer of goro's bench/parked.cpp; the workload is
// defined in docs/benchmarks.md (section "parked", and "Boost.Fiber specifics"). It
// measures resident memory per blocked fiber; nothing is timed.
//
// Two threads under algo::work_stealing (this thread plus one helper). N detached
// fibers (launch::post, fixedsize_stack of 32 KiB or 128 KiB) each count
// themselves started, then block in pop() on one unbuffered_channel; closing the
// channel releases them all. bench/run runs this at N = 100000 only (1M takes
// ~14 s and ~9 GB; docs/benchmarks.md, "parked").
//
// Usage: parked [N [32k|128k]]   (defaults: 1000000, 32k)
//   g++ -O2 -std=c++20 -pthread parked.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

namespace bf = boost::fibers;

namespace {

constexpr unsigned threads = 2;

// helper_thread is the second work_stealing thread. It is started before the
// main thread installs its own work_stealing scheduler, because Boost 1.74's
// work_stealing constructor waits until all `threads` threads have registered.
// Its main fiber sleeps on a fiber condition variable, so the thread runs stolen
// fibers until stop() is called.
class helper_thread {
 public:
  helper_thread()
      : thread_([this] {
          bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);
          std::unique_lock<bf::mutex> lk(mu_);
          cv_.wait(lk, [this] { return stop_; });
        }) {}

  void stop() {
    {
      std::lock_guard<bf::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  bf::mutex mu_;
  bf::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// countdown is the "wait group" of the Boost peer: an atomic counter, and the
// fiber that brings it to zero notifies the waiter through a mutex and condvar.
class countdown {
 public:
  explicit countdown(long n) : left_(n) {}

  void done() {
    if (left_.fetch_sub(1) == 1) {
      std::lock_guard<bf::mutex> lk(mu_);
      zero_ = true;
      cv_.notify_all();
    }
  }

  void wait() {
    std::unique_lock<bf::mutex> lk(mu_);
    cv_.wait(lk, [this] { return zero_; });
  }

 private:
  std::atomic<long> left_;
  bf::mutex mu_;
  bf::condition_variable cv_;
  bool zero_ = false;
};

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

int usage() {
  std::fprintf(stderr, "usage: parked [N > 0 [32k|128k]]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  long n = 1'000'000;
  if (argc > 1) {
    const char* end = argv[1] + std::strlen(argv[1]);
    auto [p, ec] = std::from_chars(argv[1], end, n);
    if (ec != std::errc{} || p != end || n <= 0) return usage();
  }
  std::string stack = argc > 2 ? argv[2] : "32k";
  std::size_t stack_bytes;
  if (stack == "32k") {
    stack_bytes = 32 * 1024;
  } else if (stack == "128k") {
    stack_bytes = 128 * 1024;  // Boost's default size
  } else {
    return usage();
  }

  helper_thread helper;
  bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);

  long long before = vm_rss_bytes();
  bf::unbuffered_channel<int> gate;  // nothing is ever pushed: pop() blocks until close()
  std::atomic<long> started{0}, released{0};
  countdown all_started(n), all_released(n);
  for (long i = 0; i < n; ++i) {
    bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), [&] {
      started.fetch_add(1);
      all_started.done();
      int v;
      gate.pop(v);  // returns channel_op_status::closed once main closes the channel
      released.fetch_add(1);
      all_released.done();
    }).detach();
  }
  all_started.wait();
  long long after = vm_rss_bytes();
  gate.close();
  all_released.wait();
  helper.stop();

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
  std::printf("parked bytes_per_g_%s=%.0f B n=%ld released=%ld stack=%s\n", label(n).c_str(),
              per_g, n, released.load(), stack.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "parked: error: %s\n", e.what());
  return 1;
}
