// fuzz_sync — libFuzzer target: the input bytes are the scheduling decisions
// (goro::sim::run_with_choices) of goroutines sharing a mutex, a shared_mutex,
// a condition_variable, a once_flag and a wait_group. Checked: mutual
// exclusion, readers never overlapping a writer, call_once running once,
// wait() returning only after every done(), no lost notification, and no
// data race on the sim::shared counters (the race detector). Any violation or
// failed run traps.
// Build (clang only): clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//   -DGORO_DETERMINISTIC=1 -I. fuzz/fuzz_sync.cpp
#include "goro.hpp"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <span>

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_sync: invariant violated: %s\n", what);
  __builtin_trap();
}

constexpr int workers = 3;
constexpr int rounds = 3;

void program() {
  goro::mutex mu;
  goro::shared_mutex rw;
  goro::condition_variable cv;
  goro::once_flag once;
  goro::wait_group wg;
  goro::sim::shared<int> counter(0), inits(0);
  int inside = 0, writers = 0, readers = 0, ready = 0;
  for (int w = 0; w < workers; ++w)
    wg.go([&] {
      goro::call_once(once, [&] { inits++; });
      for (int r = 0; r < rounds; ++r) {
        {
          std::lock_guard<goro::mutex> lk(mu);
          if (++inside != 1) violated("two goroutines inside the mutex");
          counter++;
          goro::sim::point();
          --inside;
        }
        if (r % 2 == 0) {
          std::lock_guard<goro::shared_mutex> lk(rw);
          if (++writers != 1 || readers != 0) violated("a writer overlaps another writer or a reader");
          goro::sim::point();
          --writers;
        } else {
          std::shared_lock<goro::shared_mutex> lk(rw);
          ++readers;
          if (writers != 0) violated("a reader overlaps a writer");
          goro::sim::point();
          --readers;
        }
      }
      std::lock_guard<goro::mutex> lk(mu);
      ++ready;
      cv.notify_all();
    });
  {
    std::unique_lock<goro::mutex> lk(mu);
    cv.wait(lk, [&] { return ready == workers; });
  }
  wg.wait();
  if (counter.load() != workers * rounds) violated("a mutex-protected increment was lost");
  if (inits.load() != 1) violated("call_once ran its function more than once");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    goro::sim::run_with_choices(std::span<const std::uint8_t>(data, size), program);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_sync: the run failed: %s\n", e.what());
    __builtin_trap();
  }
  return 0;
}
