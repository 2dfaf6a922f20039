// skynet — the Boost.Fiber peer of goro's bench/skynet.cpp; the workload is
// defined in docs/benchmarks.md (section "skynet", and "Boost.Fiber specifics").
//
// Two threads under algo::work_stealing (this thread plus one helper).
// skynet(c, num, size, div): a leaf (size 1) pushes num on c; an inner node creates
// an unbuffered_channel, spawns its 10 children as detached fibers (launch::post,
// 32 KiB fixedsize_stack), pops their 10 sums and pushes the total on c. 1,111,111
// fibers and 111,112 channels. A channel is held by shared_ptr, as Go's is by the
// garbage collector: a child may still be inside push() (releasing the channel's
// spinlock) after its parent has popped the value and returned. Timed from just
// before creating the root channel until the root sum is popped.
//   g++ -O2 -std=c++20 -pthread skynet.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
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

using channel = bf::unbuffered_channel<std::int64_t>;

void skynet(std::shared_ptr<channel> c, std::int64_t num, std::int64_t size, std::int64_t div) {
  if (size == 1) {
    c->push(num);
    return;
  }
  auto rc = std::make_shared<channel>();
  for (std::int64_t i = 0; i < div; ++i) {
    bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), skynet, rc,
              num + i * (size / div), size / div, div)
        .detach();
  }
  std::int64_t sum = 0, v;
  for (std::int64_t i = 0; i < div; ++i) {
    if (rc->pop(v) != bf::channel_op_status::success) throw std::runtime_error("channel closed");
    sum += v;
  }
  c->push(sum);
}

}  // namespace

int main() try {
  helper_thread helper;
  bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);

  auto t0 = std::chrono::steady_clock::now();
  auto c = std::make_shared<channel>();
  bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), skynet, c,
            std::int64_t{0}, std::int64_t{1'000'000}, std::int64_t{10})
      .detach();
  std::int64_t sum = 0;
  if (c->pop(sum) != bf::channel_op_status::success) throw std::runtime_error("root channel closed");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  helper.stop();

  constexpr std::int64_t want = 499'999'500'000;
  if (sum != want) {
    std::fprintf(stderr, "CHECK FAILED: sum %lld, want %lld\n", (long long)sum, (long long)want);
    return 1;
  }
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  std::printf("skynet total_ms=%.2f ms sum=%lld\n", ms, (long long)sum);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "skynet: error: %s\n", e.what());
  return 1;
}
