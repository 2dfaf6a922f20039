// race — seed 002's `i++` race between goroutines, and its three fixes: a
// mutex, a channel (one goroutine owns the counter; share memory by
// communicating) and an atomic. Eight goroutines on two Ps increment a counter
// 100,000 times each.
//
// i++ is a load, an add and a store; two goroutines on two threads can load the
// same value and one increment is lost. The racy version below performs those
// three steps on a relaxed atomic (a plain `int` here would be a C++ data race,
// undefined behaviour, and ThreadSanitizer would stop the example): increments
// are still lost, so the total usually comes out short. How much is lost varies
// from run to run, and can be nothing on a quiet machine.
#include "goro.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace {

constexpr int workers = 8;
constexpr long per_worker = 100'000;
constexpr long want = workers * per_worker;

long with_race() {
  std::atomic<long> i{0};
  goro::run(
      [&i] {
        goro::wait_group wg;
        for (int w = 0; w < workers; ++w)
          wg.go([&i] {
            for (long k = 0; k < per_worker; ++k) i.store(i.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          });
        wg.wait();
      },
      goro::config{.procs = 2});
  return i.load();
}

long with_mutex() {
  long i = 0;
  goro::run(
      [&i] {
        goro::mutex mu;
        goro::wait_group wg;
        for (int w = 0; w < workers; ++w)
          wg.go([&i, &mu] {
            for (long k = 0; k < per_worker; ++k) {
              std::lock_guard lk(mu);
              ++i;
            }
          });
        wg.wait();
      },
      goro::config{.procs = 2});
  return i;
}

long with_channel() {
  long total = 0;
  goro::run(
      [&total] {
        goro::chan<long> increments(64);
        goro::chan<long> result;
        goro::go([increments, result] {  // the owner: the only goroutine that touches the counter
          long i = 0;
          for (long d : increments) i += d;
          result.send(i);
        });
        goro::wait_group wg;
        for (int w = 0; w < workers; ++w)
          wg.go([increments] {
            for (long k = 0; k < per_worker; ++k) increments.send(1);
          });
        wg.wait();
        increments.close();
        total = *result.recv();
      },
      goro::config{.procs = 2});
  return total;
}

long with_atomic() {
  std::atomic<long> i{0};
  goro::run(
      [&i] {
        goro::wait_group wg;
        for (int w = 0; w < workers; ++w)
          wg.go([&i] {
            for (long k = 0; k < per_worker; ++k) i.fetch_add(1, std::memory_order_relaxed);
          });
        wg.wait();
      },
      goro::config{.procs = 2});
  return i.load();
}

}  // namespace

int main() {
  long r = with_race();
  std::printf("racy i++ : %ld of %ld (%ld increments lost)\n", r, want, want - r);
  bool ok = true;
  struct fix {
    const char* name;
    long (*run)();
  };
  for (fix f : {fix{"mutex    ", with_mutex}, fix{"channel  ", with_channel}, fix{"atomic   ", with_atomic}}) {
    long got = f.run();
    std::printf("%s: %ld of %ld%s\n", f.name, got, want, got == want ? "" : "  WRONG");
    ok = ok && got == want;
  }
  return ok ? 0 : 1;
}
