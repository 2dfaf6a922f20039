// race_counter — the seeds' `i++` race (two goroutines increment one counter)
// reproduced by goro's deterministic mode. Build with -DGORO_DETERMINISTIC=1.
//
// 1. A plain int. `i++` is a load, an add and a store (the seeds' point: it is
//    not atomic). On goro's single deterministic thread another goroutine can
//    only run at a scheduling point, so the example writes the increment as
//    the machine runs it, with goro::sim::point() where a thread could be
//    preempted. explore runs seeds 1, 2, ... until the total is not 2 (a lost
//    update), prints that seed, and replays it with goro::run.
// 2. The same with goro::sim::shared<int> and a real `i++`: the race detector
//    reports the unsynchronized accesses (goro::race_error) at the first seed,
//    whether or not an update is lost.
// 3. `race_counter --tsan`: a plain `i++`, to run in a ThreadSanitizer build:
//    TSan reports the race although one thread runs both goroutines.
//    `--tsan-mutex` is the fixed version, which TSan passes.
#include "goro.hpp"

#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace {

int counter = 0;

void plain_int_body() {
  counter = 0;
  goro::wait_group wg;
  for (int k = 0; k < 2; ++k)
    wg.go([] {
      int v = counter;     // load
      goro::sim::point();  // another goroutine may run here
      counter = v + 1;     // store
    });
  wg.wait();
  if (counter != 2) throw std::logic_error("lost update: counter is " + std::to_string(counter) + ", not 2");
}

void shared_body() {
  goro::sim::shared<int> i(0);
  goro::wait_group wg;
  for (int k = 0; k < 2; ++k) wg.go([&i] { i++; });
  wg.wait();
}

void tsan_plain() {
  int i = 0;
  goro::wait_group wg;
  for (int k = 0; k < 2; ++k) wg.go([&i] { i++; });
  wg.wait();
  std::printf("i = %d\n", i);
}

void tsan_mutex() {
  int i = 0;
  goro::mutex mu;
  goro::wait_group wg;
  for (int k = 0; k < 2; ++k)
    wg.go([&i, &mu] {
      std::lock_guard<goro::mutex> lk(mu);
      i++;
    });
  wg.wait();
  std::printf("i = %d\n", i);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--tsan") == 0 || std::strcmp(argv[1], "--tsan-mutex") == 0)) {
    goro::run(std::strcmp(argv[1], "--tsan") == 0 ? tsan_plain : tsan_mutex, goro::config{.seed = 1});
    return 0;
  }

  std::printf("1. i++ on a plain int, as load / add / store:\n");
  goro::sim::explore_result r = goro::sim::explore(plain_int_body, {.runs = 10'000});
  if (r.ok) {
    std::printf("   no lost update in %zu seeds\n", r.runs_done);
    return 1;
  }
  std::printf("   explore: seed %llu loses an update (after %zu runs): %s\n", static_cast<unsigned long long>(r.failing_seed),
              r.runs_done, r.message.c_str());
  try {
    goro::run(plain_int_body, goro::config{.seed = r.failing_seed});
    std::printf("   replay: passed?\n");
    return 1;
  } catch (const std::logic_error& e) {
    std::printf("   replay with goro::config{.seed = %llu} (or GORO_SEED=%llu): %s again\n",
                static_cast<unsigned long long>(r.failing_seed), static_cast<unsigned long long>(r.failing_seed), e.what());
  }
  int ok_seeds = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    try {
      goro::run(plain_int_body, goro::config{.seed = seed});
      ++ok_seeds;
    } catch (const std::logic_error&) {
    }
  }
  std::printf("   of seeds 1..20, %d end with 2 and %d lose an update\n", ok_seeds, 20 - ok_seeds);

  std::printf("2. i++ on a goro::sim::shared<int>:\n");
  r = goro::sim::explore(shared_body, {.runs = 100});
  if (r.ok) return 1;
  std::printf("   explore: seed %llu: %s", static_cast<unsigned long long>(r.failing_seed), r.message.c_str());
  std::printf("3. run `race_counter --tsan` in a ThreadSanitizer build to see TSan report the plain i++\n");
  return 0;
}
