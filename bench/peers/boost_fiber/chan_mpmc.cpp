// chan_mpmc — the Boost.Fiber peer of goro's bench/chan_mpmc.cpp; the workload is
// defined in docs/benchmarks.md (section "chan_mpmc", and "Boost.Fiber specifics").
//
// Two threads under algo::work_stealing (this thread plus one helper). One
// buffered_channel<int64_t>(1024), which holds 1023 values (Go's capacity 1024);
// P = 4 producer fibers, then C = 4 consumer fibers (launch::post, 32 KiB
// fixedsize_stack: 8 KiB overflowed). Producer p pushes p, p+4, p+8, ... below N;
// each consumer sums what it pops into its own slot (slots 128 bytes apart). The
// main fiber joins the producers, closes the channel, joins the consumers. Timed
// from just before the first spawn until the last consumer is done.
//   g++ -O2 -std=c++20 -pthread chan_mpmc.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace bf = boost::fibers;

namespace {

constexpr unsigned threads = 2;
constexpr std::size_t stack_bytes = 32 * 1024;
constexpr std::int64_t n = 10'000'000;
constexpr int producers = 4, consumers = 4;

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

struct alignas(128) slot {  // one consumer's sum, 128 bytes from the next
  std::int64_t sum = 0;
};

}  // namespace

int main() try {
  helper_thread helper;
  bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);

  slot sums[consumers];
  // Holds 1023: Go's capacity 1024 (docs/benchmarks.md, "Boost.Fiber specifics").
  bf::buffered_channel<std::int64_t> ch(1024);
  std::vector<bf::fiber> prod, cons;
  auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < producers; ++p) {
    prod.emplace_back(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), [&ch, p] {
      for (std::int64_t v = p; v < n; v += producers) ch.push(v);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    cons.emplace_back(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes),
                      [&ch, s = &sums[c]] {
                        std::int64_t sum = 0, v;
                        while (ch.pop(v) == bf::channel_op_status::success) sum += v;
                        s->sum = sum;
                      });
  }
  for (bf::fiber& f : prod) f.join();
  ch.close();
  for (bf::fiber& f : cons) f.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  helper.stop();

  std::int64_t sum = 0;
  for (const slot& s : sums) sum += s.sum;
  constexpr std::int64_t want = n * (n - 1) / 2;
  if (sum != want) {
    std::fprintf(stderr, "CHECK FAILED: sum %lld, want %lld\n", (long long)sum, (long long)want);
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("chan_mpmc ns_per_item=%.1f ns sum=%lld\n", ns / n, (long long)sum);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "chan_mpmc: error: %s\n", e.what());
  return 1;
}
