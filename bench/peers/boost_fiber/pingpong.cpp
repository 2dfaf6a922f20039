// pingpong — the Boost.Fiber peer of goro's bench/pingpong.cpp; the workload is
// defined in docs/benchmarks.md (section "pingpong", and "Boost.Fiber specifics").
//
// Two unbuffered_channels, ping and pong. An echo fiber (detached, launch::post,
// 32 KiB fixedsize_stack) pops v from ping and pushes v + 1 on pong until ping is
// closed, then closes pong. The main fiber does up to N round trips (push x on
// ping, pop x from pong), stopping early after 2 s (checked every 1024 round
// trips: this 2-thread phase sometimes runs at 10–200 µs per round trip), then
// closes ping and waits for pong to be closed. Phase 1 runs under
// algo::work_stealing on 2 threads (this thread plus one helper; ns_per_rt),
// phase 2 on a fresh std::thread with Boost's default round_robin (ns_per_rt_p1).
// Timed from just after spawning the echo fiber until the last round trip's pop
// returns.
//   g++ -O2 -std=c++20 -pthread pingpong.cpp -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include <chrono>
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
constexpr long n = 1'000'000;
// Safety cap per phase (docs/benchmarks.md, "pingpong").
constexpr auto cap = std::chrono::seconds(2);

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

struct phase_result {
  long rts = 0;  // round trips done
  long x = 0;    // the value after the last round trip; the check wants x == rts
  std::chrono::steady_clock::duration elapsed{};
};

// phase runs one phase on the calling thread's scheduler. The channels are shared
// with the echo fiber, which may still be inside pong->close() when the main
// fiber sees pong closed.
phase_result phase() {
  using channel = bf::unbuffered_channel<long>;
  auto ping = std::make_shared<channel>(), pong = std::make_shared<channel>();
  bf::fiber(bf::launch::post, std::allocator_arg, bf::fixedsize_stack(stack_bytes), [ping, pong] {
    long v;
    while (ping->pop(v) == bf::channel_op_status::success) pong->push(v + 1);
    pong->close();
  }).detach();
  phase_result r;
  auto t0 = std::chrono::steady_clock::now();
  long x = 0, rts = 0;
  while (rts < n) {
    ping->push(x);
    if (pong->pop(x) != bf::channel_op_status::success) throw std::runtime_error("pong closed early");
    ++rts;
    if (rts % 1024 == 0 && std::chrono::steady_clock::now() - t0 >= cap) break;
  }
  r.elapsed = std::chrono::steady_clock::now() - t0;
  r.rts = rts;
  r.x = x;
  ping->close();
  long v;
  while (pong->pop(v) == bf::channel_op_status::success) {
  }  // returns closed once the echo fiber has closed pong
  return r;
}

}  // namespace

int main() try {
  phase_result p2, p1;
  {
    helper_thread helper;
    bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads);
    p2 = phase();
    helper.stop();
  }
  std::exception_ptr err;
  std::thread([&] {  // a fresh thread: its scheduler is the default round_robin
    try {
      p1 = phase();
    } catch (...) {
      err = std::current_exception();
    }
  }).join();
  if (err) std::rethrow_exception(err);

  if (p2.x != p2.rts || p1.x != p1.rts) {
    std::fprintf(stderr, "CHECK FAILED: x %ld after %ld round trips (2 threads), x %ld after %ld (1 thread)\n",
                 p2.x, p2.rts, p1.x, p1.rts);
    return 1;
  }
  double ns2 = std::chrono::duration<double, std::nano>(p2.elapsed).count();
  double ns1 = std::chrono::duration<double, std::nano>(p1.elapsed).count();
  std::printf("pingpong ns_per_rt=%.1f ns ns_per_rt_p1=%.1f ns rts=%ld rts_p1=%ld\n", ns2 / p2.rts,
              ns1 / p1.rts, p2.rts, p1.rts);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pingpong: error: %s\n", e.what());
  return 1;
}
