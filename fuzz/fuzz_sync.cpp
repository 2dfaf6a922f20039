// fuzz_sync — libFuzzer target: the input bytes are the scheduling decisions
// (goro::sim::run_with_choices) of goroutines sharing a mutex, a shared_mutex,
// a condition_variable, a once_flag and a wait_group. Checked: mutual
// exclusion, readers never overlapping a writer, call_once running once,
// wait() returning only after every done(), no lost notification, and no
// data race on the sim::shared counters (the race detector). Any violation or
// failed run traps.
// Under TSan every plain variable shared here must be ordered by goro's edges
// (mutex, shared_mutex, wait_group, go): TSan sees those and nothing else.
// -DGORO_FUZZ_RACY=1 adds a deliberate data race on a plain int: each worker
// increments it after its last unlock, where nothing orders one worker's
// increment with another's in any schedule. tools/check builds that variant
// with TSan and requires TSan's report (an expected failure).
// Build (clang only): clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//   -DGORO_DETERMINISTIC=1 -I. fuzz/fuzz_sync.cpp
#include "goro.hpp"

#include <atomic>
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

#ifndef GORO_FUZZ_RACY
#define GORO_FUZZ_RACY 0
#endif

constexpr int workers = 3;
constexpr int rounds = 3;

void program() {
  goro::mutex mu;
  goro::shared_mutex rw;
  goro::condition_variable cv;
  goro::once_flag once;
  goro::wait_group wg;
  goro::sim::shared<int> counter(0), inits(0);
  int inside = 0, writers = 0, ready = 0;
  std::atomic<int> readers{0};  // readers hold the shared side together: an atomic, not a plain int
  [[maybe_unused]] int unguarded = 0;  // GORO_FUZZ_RACY's race
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
      {
        std::lock_guard<goro::mutex> lk(mu);
        ++ready;
        cv.notify_all();
      }
      if constexpr (GORO_FUZZ_RACY) ++unguarded;  // after this worker's last release: a race in every schedule
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
