// fib — seed 003's Fibonacci with a goroutine per call: fib(n) starts a
// goroutine that forks fib(n-1) and fib(n-2), joins both through their
// channels, and sends the sum on its own channel. Seed 003 walks fib(4) through
// a two-thread work-stealing scheduler as a table of each thread's call stack
// and work deque; `fib --trace` prints that table for goro's real run of fib(4)
// on two Ps: what each P runs, what its run queue holds, which goroutines are
// parked at an unrealized join, and each fork, steal and join as it happened.
//
//   fib [n]      fib(n) (default 20) with one goroutine per call, and the steals it took
//   fib --trace  the fork/steal/join table of fib(4) on 2 Ps
//
// In Go (seed 003; here both children are forked before either is joined, as in
// the seed's walkthrough):
//   fib = func(n int) <-chan int {
//       result := make(chan int)
//       go func() { defer close(result); if n <= 2 { result <- 1; return }; result <- <-fib(n-1) + <-fib(n-2) }()
//       return result
//   }
//
// goro, like Go's runtime, queues the new goroutine (the child) and lets the
// parent go on: the table shows child ("task") stealing, the first of seed
// 003's two walkthroughs. The trace's run queue is a model kept by the program
// from the events it logs (a fork appends the child to the forking P's queue; a
// goroutine that starts on another P than the one that queued it was stolen);
// the P each event happened on is the real one (goro::debug::current_p()).
// Runs differ: which P steals what, and when, is up to the scheduler.
#include "goro.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// The trace (only with --trace). Goroutines on both Ps log events; each event
// updates the model under `mu` and prints one row of the table.
struct tracer {
  bool on = false;
  std::mutex mu;
  std::vector<std::string> names;         // goroutine index -> "fib(n)" / "main"
  std::map<int, std::deque<int>> queue;   // P -> modelled run queue (goroutine indices)
  std::map<int, int> running;             // P -> goroutine index running there, -1 for none
  std::vector<int> parked;                // goroutines parked at an unrealized join
  int step = 0, steals = 0, stalls = 0;
  std::size_t max_queue = 0;

  static std::string join_names(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s.empty() ? "-" : s;
  }
  std::string queue_of(int p) {
    std::vector<std::string> v;
    for (int g : queue[p]) v.push_back(names[g]);
    return join_names(v);
  }
  std::string running_on(int p) {
    auto it = running.find(p);
    return it == running.end() || it->second < 0 ? "-" : names[it->second];
  }
  void header() {
    std::printf("%4s  %-8s %-15s %-8s %-15s %-20s %s\n", "step", "P0 runs", "P0 run queue", "P1 runs", "P1 run queue",
                "parked at a join", "event");
  }
  // row prints the state after an event. Requires mu.
  void row(const std::string& event) {
    std::vector<std::string> pk;
    for (int g : parked) pk.push_back(names[g]);
    std::printf("%4d  %-8s %-15s %-8s %-15s %-20s %s\n", ++step, running_on(0).c_str(), queue_of(0).c_str(),
                running_on(1).c_str(), queue_of(1).c_str(), join_names(pk).c_str(), event.c_str());
    for (auto& [p, q] : queue) max_queue = std::max(max_queue, q.size());
  }

  int start_main() {
    std::lock_guard lk(mu);
    names.push_back("main");
    running[goro::debug::current_p()] = 0;
    header();
    row("main starts");
    return 0;
  }
  int fork(int parent, int n) {
    std::lock_guard lk(mu);
    int id = static_cast<int>(names.size());
    names.push_back("fib(" + std::to_string(n) + ")");
    int p = goro::debug::current_p();
    queue[p].push_back(id);
    row("P" + std::to_string(p) + ": " + names[parent] + " forks " + names[id]);
    return id;
  }
  void start(int id) {
    std::lock_guard lk(mu);
    int p = goro::debug::current_p();
    std::string how;
    for (auto& [owner, q] : queue) {
      auto it = std::find(q.begin(), q.end(), id);
      if (it == q.end()) continue;
      q.erase(it);
      if (owner == p) {
        how = "P" + std::to_string(p) + " runs " + names[id] + " from its own queue";
      } else {
        ++steals;
        how = "P" + std::to_string(p) + " steals " + names[id] + " from P" + std::to_string(owner);
      }
      break;
    }
    running[p] = id;
    row(how);
  }
  void wait(int id, int child) {
    std::lock_guard lk(mu);
    int p = goro::debug::current_p();
    if (running[p] == id) running[p] = -1;
    parked.push_back(id);
    ++stalls;
    row(names[id] + " waits for " + names[child] + ": unrealized join, parks");
  }
  void resume(int id, int child, int v) {
    std::lock_guard lk(mu);
    int p = goro::debug::current_p();
    parked.erase(std::find(parked.begin(), parked.end(), id));
    running[p] = id;
    row(names[id] + " gets " + std::to_string(v) + " from " + names[child] + ", resumes on P" + std::to_string(p));
  }
  void realized(int id, int child, int v) {
    std::lock_guard lk(mu);
    row(names[id] + " gets " + std::to_string(v) + " from " + names[child] + ": realized join");
  }
  void returns(int id, int v) {
    std::lock_guard lk(mu);
    int p = goro::debug::current_p();
    if (running[p] == id) running[p] = -1;
    row(names[id] + " returns " + std::to_string(v));
  }
} trace;

std::atomic<long> goroutines{0};

// work stands for the body of a real task when tracing: 2 ms of CPU without a
// goro call, long enough for the idle P to wake up and steal (fib(4) alone is
// over in microseconds, before a second P has started looking for work).
void work() {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < until) {
  }
}

// join receives a child's result; traced, it tells a realized join (the child
// is already waiting to hand its value over) from an unrealized one (parks).
int join(const goro::chan<int>& result, int self, int child) {
  if (!trace.on) return *result.recv();
  int v = 0;
  bool ready = false;
  goro::select(goro::recv_case(result, [&](std::optional<int> x) { v = *x, ready = true; }), goro::default_case([] {}));
  if (ready) {
    trace.realized(self, child, v);
    return v;
  }
  trace.wait(self, child);
  v = *result.recv();
  trace.resume(self, child, v);
  return v;
}

struct call {
  goro::chan<int> result;
  int id;  // the trace's index of the goroutine (-1 untraced)
};

// fib starts the goroutine computing fib(n) and returns its result channel.
call fib(int n, int parent) {
  goro::chan<int> result;
  int self = trace.on ? trace.fork(parent, n) : -1;
  goroutines.fetch_add(1, std::memory_order_relaxed);
  goro::go([result, n, self] {
    if (trace.on) {
      trace.start(self);
      work();
    }
    int v = 1;
    if (n > 2) {
      call a = fib(n - 1, self);  // fork both...
      call b = fib(n - 2, self);
      v = join(a.result, self, a.id);  // ...then join both
      v += join(b.result, self, b.id);
    }
    if (trace.on) trace.returns(self, v);
    result.send(v);
    result.close();
  });
  return {result, self};
}

}  // namespace

int main(int argc, char** argv) {
  bool want_trace = argc > 1 && std::strcmp(argv[1], "--trace") == 0;
  int n = want_trace ? 4 : (argc > 1 ? std::atoi(argv[1]) : 20);
  if (n < 1 || n > 30) {
    std::fprintf(stderr, "usage: fib [n (1..30)] | fib --trace\n");
    return 2;
  }
  trace.on = want_trace;
  int got = 0;
  goro::run(
      [&] {
        int self = trace.on ? trace.start_main() : -1;
        call c = fib(n, self);
        got = join(c.result, self, c.id);
        goro::debug::sched_stats st = goro::debug::stats();
        unsigned long steals = 0;
        for (const auto& p : st.p) steals += static_cast<unsigned long>(p.steals);
        if (trace.on) {
          std::printf("\nmain prints fib(4) = %d\n", got);
          std::printf("\nsteps %d, steals %d, max run queue length %zu, stalled (unrealized) joins %d\n", trace.step,
                      trace.steals, trace.max_queue, trace.stalls);
        } else {
          std::printf("fib(%d) = %d: %ld goroutines, one per call, on %u Ps; %lu steals\n", n, got, goroutines.load(),
                      goro::procs(), steals);
        }
      },
      goro::config{.procs = want_trace ? 2u : 0u});
  int a = 1, b = 1;  // fib(n) by a loop, to check
  for (int i = 3; i <= n; ++i) b = std::exchange(a, b) + b;
  return got == (n <= 2 ? 1 : b) ? 0 : 1;
}
