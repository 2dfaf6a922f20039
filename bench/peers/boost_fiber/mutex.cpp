// mutex — the Boost.Fiber peer of goro's bench/mutex.cpp; the workload is defined
// in docs/benchmarks.md (section "mutex", and "Boost.Fiber specifics").
//
// Two threads under algo::work_stealing (this thread plus one helper). G = 100
// fibers (launch::post, 32 KiB fixedsize_stack) each do K = 300,000 times
// lock(); counter++; unlock() on one boost::fibers::mutex around a plain counter;
// the main fiber joins them. Timed from just before the first spawn until all G
// have finished.
//   g++ -O2 -std=c++20 -pthread mutex.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace bf = boost::fibers;

namespace {

constexpr unsigned threads = 2;
constexpr std::size_t stack_bytes = 32 * 1024;

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

}  // namespace

int main() try {
  constexpr long g = 100, k = 300'000;
  constexpr long expected = g * k;

  helper_thread helper;
  bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);

  bf::mutex mu;
  long counter = 0;  // plain: the mutex is what protects it
  std::vector<bf::fiber> fibers;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < g; ++i) {
    fibers.emplace_back(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), [&] {
      for (long j = 0; j < k; ++j) {
        std::lock_guard<bf::mutex> lk(mu);
        ++counter;
      }
    });
  }
  for (bf::fiber& f : fibers) f.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  helper.stop();

  if (counter != expected) {
    std::fprintf(stderr, "CHECK FAILED: counter %ld, want %ld\n", counter, expected);
    return 1;
  }
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("mutex ns_per_pair=%.1f ns counter=%ld\n", ns / expected, counter);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mutex: error: %s\n", e.what());
  return 1;
}
