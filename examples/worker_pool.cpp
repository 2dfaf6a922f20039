// worker_pool — a fixed pool of goroutines draining a job channel (Go by
// Example's "Worker Pools"). Jobs go into a buffered channel; three workers
// take them as they are free; results come back on another channel. Closing
// `jobs` ends each worker's range-for once the channel is drained.
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <map>

using namespace std::chrono_literals;

struct result {
  int job;
  int worker;
  long value;
};

void worker(int id, goro::chan<int> jobs, goro::chan<result> results) {
  for (int j : jobs) {  // receives until jobs is closed and drained
    goro::sleep_for(20ms);  // stands for real work that waits (I/O, a remote call)
    results.send({j, id, static_cast<long>(j) * j});
  }
}

int main() {
  constexpr int n_jobs = 12, n_workers = 3;
  long sum = 0;
  std::map<int, int> per_worker;
  auto t0 = std::chrono::steady_clock::now();
  goro::run([&] {
    goro::chan<int> jobs(n_jobs);
    goro::chan<result> results(n_jobs);
    for (int w = 1; w <= n_workers; ++w) goro::go(worker, w, jobs, results);
    for (int j = 1; j <= n_jobs; ++j) jobs.send(j);
    jobs.close();  // no more jobs: the workers' loops end when it is drained
    for (int i = 0; i < n_jobs; ++i) {
      result r = *results.recv();
      std::printf("worker %d finished job %2d: %ld\n", r.worker, r.job, r.value);
      sum += r.value;
      ++per_worker[r.worker];
    }
  });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d jobs on %d workers (", n_jobs, n_workers);
  for (auto [w, n] : per_worker) std::printf("%s%d: %d", w == 1 ? "" : ", ", w, n);
  // One worker would take 12 x 20 ms = 240 ms; three take about 80 ms.
  std::printf("), sum of squares %ld, %s\n", sum,
              ms < 200 ? "in about 80 ms (12 x 20 ms of waiting, 3 at a time)" : "too slow: the workers did not overlap");
  return sum == 650 && ms < 200 ? 0 : 1;
}
