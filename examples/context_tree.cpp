// context_tree — one deadline cancelling a tree of goroutines (Go's context
// package: "Go Concurrency Patterns: Context"). A request gets a context with
// a deadline (goro::with_timeout). It fans out to 3 handlers; each derives its
// own child context and starts 4 sub-workers, each of which derives a child of
// its handler's context and loops in a select: a job from its handler, or its
// context's done() channel. The handlers hand out a few jobs, then wait in
// their own select on done(). Handler 1 gives up early and cancels its own
// context: only its sub-workers see goro::canceled (operation_canceled). The
// deadline then cancels everything else at once, with timed_out (Go:
// context.DeadlineExceeded). Every goroutine has been waited for with a
// wait_group, and none is left afterwards.
#include "goro.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <system_error>
#include <variant>

using namespace std::chrono_literals;

namespace {

constexpr int n_handlers = 3, n_workers = 4, jobs_per_handler = 5;
constexpr int failing_handler = 1;  // cancels its own context after handing out its jobs
constexpr auto deadline = 200ms;

// tally counts how the goroutines of one kind ended.
struct tally {
  std::atomic<int> timed_out{0}, canceled{0}, other{0};
  void record(std::error_code e) {
    if (e == std::errc::timed_out) ++timed_out;
    else if (e == std::errc::operation_canceled) ++canceled;
    else ++other;
  }
};

struct shared {
  goro::wait_group all;      // every handler and worker: the request is over when it reaches 0
  goro::wait_group started;  // every handler and worker has derived its context
  goro::chan<int> begin;     // closed by main: the handlers may hand out jobs
  std::atomic<int> jobs_done{0};
  tally workers, handlers;
};

// worker: waits for a job or for its context to end, whichever comes first.
void worker(goro::context parent, goro::chan<int> jobs, shared& s) {
  goro::cancel_handle me = goro::with_cancel(parent);  // a leaf of the tree
  goro::chan<std::monostate> done = me.ctx.done();
  s.started.done();
  for (bool stop = false; !stop;) {
    goro::select(goro::recv_case(done, [&](std::optional<std::monostate>) { stop = true; }),
                 goro::recv_case(jobs, [&](std::optional<int> job) {
                   if (job) ++s.jobs_done;  // the "work": nothing to wait for here
                 }));
  }
  s.workers.record(me.ctx.err());
}

// handler: one branch of the request, with its own sub-workers.
void handler(int id, goro::context request, shared& s) {
  goro::cancel_handle me = goro::with_cancel(request);
  goro::chan<int> jobs;  // unbuffered: a send returns once a worker took the job
  for (int w = 0; w < n_workers; ++w) s.all.go(worker, me.ctx, jobs, std::ref(s));
  s.started.done();
  (void)s.begin.recv();  // closed: go
  goro::chan<std::monostate> done = me.ctx.done();
  for (int j = 0; j < jobs_per_handler; ++j) {
    bool stop = false;
    goro::select(goro::send_case(jobs, j, [] {}), goro::recv_case(done, [&](std::optional<std::monostate>) { stop = true; }));
    if (stop) break;
  }
  if (id == failing_handler) me.cancel();  // gives up: cancels its own subtree, nobody else's
  goro::select(goro::recv_case(done, [](std::optional<std::monostate>) {}));
  s.handlers.record(me.ctx.err());
}

const char* name(std::error_code e) {
  if (!e) return "live";
  if (e == std::errc::timed_out) return "deadline exceeded (timed_out)";
  if (e == std::errc::operation_canceled) return "canceled (operation_canceled)";
  return "other";
}

}  // namespace

int main() {
  shared s;
  std::size_t running = 0, left = 0;
  std::error_code request_err;
  double elapsed_ms = 0;
  goro::run([&] {
    auto t0 = std::chrono::steady_clock::now();
    goro::cancel_handle request = goro::with_timeout(goro::context{}, deadline);
    s.started.add(n_handlers * (1 + n_workers));
    for (int h = 0; h < n_handlers; ++h) s.all.go(handler, h, request.ctx, std::ref(s));
    s.started.wait();
    running = goro::num_goroutines();  // nobody can have ended yet: no job was handed out
    s.begin.close();
    s.all.wait();  // returns once the deadline has ended every handler and worker
    elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    request_err = request.ctx.err();
    // wait_group::go's done() runs as each goroutine's last act: the
    // goroutine itself ends just after. Let the last of them finish.
    while (goro::num_goroutines() > 1) goro::yield();
    left = goro::num_goroutines();
  });

  std::printf("request: %d handlers with %d sub-workers each, deadline %lld ms\n", n_handlers, n_workers,
              static_cast<long long>(deadline.count()));
  std::printf("before the deadline: %zu goroutines (main, %d handlers, %d workers)\n", running, n_handlers,
              n_handlers * n_workers);
  std::printf("jobs done: %d of %d, then handler %d cancelled its own context\n", s.jobs_done.load(),
              n_handlers * jobs_per_handler, failing_handler);
  std::printf("workers:  %d ended with %s, %d with %s, %d otherwise\n", s.workers.timed_out.load(),
              name(std::make_error_code(std::errc::timed_out)), s.workers.canceled.load(),
              name(std::make_error_code(std::errc::operation_canceled)), s.workers.other.load());
  std::printf("handlers: %d ended with %s, %d with %s, %d otherwise\n", s.handlers.timed_out.load(),
              name(std::make_error_code(std::errc::timed_out)), s.handlers.canceled.load(),
              name(std::make_error_code(std::errc::operation_canceled)), s.handlers.other.load());
  std::printf("request: %s after %.0f ms\n", name(request_err), elapsed_ms);
  std::printf("goroutines left: %zu (main)\n", left);

  bool ok = running == 1 + n_handlers * (1 + n_workers) && s.jobs_done == n_handlers * jobs_per_handler &&
            s.workers.timed_out == (n_handlers - 1) * n_workers && s.workers.canceled == n_workers &&
            s.handlers.timed_out == n_handlers - 1 && s.handlers.canceled == 1 &&
            request_err == std::errc::timed_out && elapsed_ms >= static_cast<double>(deadline.count()) && left == 1;
  return ok ? 0 : 1;
}
