// lock_order — the seeds' lock-order deadlock (two goroutines, two mutexes,
// opposite orders) found by goro's deterministic mode. Build with
// -DGORO_DETERMINISTIC=1. The deadlock needs goroutine 1 to be switched out
// between its two locks; explore tries seeds until one does, and the report
// shows the cycle (each goroutine waits for a mutex the other holds), and for
// each goroutine the line it is blocked on, the mutex it waits for, who holds
// that mutex and where it was locked, and where the goroutine was made.
// With an argument, `lock_order timeline.json`, explore also writes the failing
// run's trace there and its HTML timeline as timeline.html.
#include "goro.hpp"

#include <cstdio>
#include <mutex>

namespace {

void transfer() {
  goro::mutex v1, v2;
  goro::wait_group wg;
  wg.go([&] {  // thread 1 of the seed: v1 then v2
    std::lock_guard<goro::mutex> a(v1);
    std::lock_guard<goro::mutex> b(v2);
  });
  wg.go([&] {  // thread 2: v2 then v1
    std::lock_guard<goro::mutex> a(v2);
    std::lock_guard<goro::mutex> b(v1);
  });
  wg.wait();
}

}  // namespace

int main(int argc, char** argv) {
  goro::sim::explore_result r = goro::sim::explore(transfer, {.runs = 10'000, .trace_path = argc > 1 ? argv[1] : ""});
  if (r.ok) {
    std::printf("no deadlock in %zu seeds\n", r.runs_done);
    return 1;
  }
  std::printf("explore: deadlock at seed %llu (run %zu); seeds before it finished fine\n",
              static_cast<unsigned long long>(r.failing_seed), r.runs_done);
  std::printf("%s", r.message.c_str());
  std::printf("replay it with GORO_SEED=%llu, or goro::run(transfer, goro::config{.seed = %llu})\n",
              static_cast<unsigned long long>(r.failing_seed), static_cast<unsigned long long>(r.failing_seed));
  return 0;
}
