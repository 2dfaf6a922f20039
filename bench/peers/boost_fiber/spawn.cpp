// spawn — the Boost.Fiber peer of goro's bench/spawn.cpp; the workload is
// defined in docs/benchmarks.md (section "spawn", and "Boost.Fiber specifics").
//
// Two threads under algo::work_stealing (this thread plus one helper). The main
// fiber spawns N detached fibers (launch::post, 32 KiB fixedsize_stack) in a tight
// loop; each body decrements a shared atomic counter, and the fiber that brings it
// to zero wakes the main fiber through a fiber mutex and condition variable.
// Timed from just before the first spawn until the main fiber's wait returns.
//   g++ -O2 -std=c++20 -pthread spawn.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

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

}  // namespace

int main() try {
  constexpr long n = 500'000;

  helper_thread helper;
  bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);

  countdown left(n);
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes),
              [&left] { left.done(); })
        .detach();
  }
  left.wait();  // check: returning proves all n ran
  auto elapsed = std::chrono::steady_clock::now() - t0;

  helper.stop();
  double ns = std::chrono::duration<double, std::nano>(elapsed).count();
  std::printf("spawn ns_per_spawn=%.1f ns n=%ld\n", ns / n, n);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "spawn: error: %s\n", e.what());
  return 1;
}
