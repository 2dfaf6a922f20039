// The categories of Tu et al., "Understanding Real-World Concurrency Bugs in
// Go" (ASPLOS 2019), as small goroutine programs, each with its fix: blocking
// bugs (channel misuse, mutex misuse, wait_group misuse, lock order) and
// non-blocking ones (a data race, order and atomicity violations, double
// close, send on a closed channel). Each bug must be found by explore within
// 10,000 seeds with strategy random and with pct, and replay from its seed;
// each fixed version must pass 10,000 seeds (fewer under the sanitizers).
// The seeds-to-find table is printed (the note quotes it). Then the
// orders that only a scheduling point after a wake-up (or after go) reaches,
// and goroutine leaks found with fail_on_leak, each with its fix. A check in
// main throws only once the goroutines that use main's locals are done: an
// exception leaving main while one still runs would have it touch a dead
// frame as it unwinds (and the run's report would then depend on what was
// left there, which shrinking's replays must not).
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

static_assert(GORO_DETERMINISTIC, "build this test with -DGORO_DETERMINISTIC=1");

using goro::sim::strategy;

namespace {

void expect(bool ok, const char* what) {
  if (!ok) throw std::logic_error(what);
}

// --- blocking: channel misuse ----------------------------------------------
// A worker sends its result on an unbuffered channel; main takes whichever of
// the result and a cancellation comes first, then waits for the worker. When
// the cancellation wins, nobody ever receives: the worker blocks on its send,
// main on the wait: a deadlock. Fix: the worker's send selects on quit too.
void chan_misuse(bool fixed) {
  goro::chan<int> result, quit;
  goro::wait_group wg;
  wg.go([=] {
    if (fixed) goro::select(goro::send_case(result, 42, [] {}), goro::recv_case(quit, [](auto) {}));
    else result.send(42);
  });
  goro::go([quit] { quit.close(); });
  goro::select(goro::recv_case(result, [](auto) {}), goro::recv_case(quit, [](auto) {}));
  wg.wait();
}

// --- blocking: mutex misuse ------------------------------------------------
// A cache lookup returns early on a hit without unlocking. The second caller
// hits only if the first has filled the cache already; then the third lock
// blocks forever. Fix: a lock_guard.
void mutex_misuse(bool fixed) {
  goro::mutex mu;
  int cache = 0;
  auto lookup = [&] {
    if (fixed) {
      std::lock_guard<goro::mutex> lk(mu);
      if (cache == 0) cache = 7;
      return;
    }
    mu.lock();
    if (cache != 0) return;  // the bug: no unlock
    cache = 7;
    mu.unlock();
  };
  goro::wait_group wg;
  wg.go(lookup);
  wg.go(lookup);
  wg.wait();
  std::lock_guard<goro::mutex> lk(mu);
}

// --- blocking/order: wait_group misuse ---------------------------------------
// add(1) inside the goroutine: wait() can return before the goroutine has even
// started, and main reads a result not yet written. Fix: add before go.
void wait_group_misuse(bool fixed) {
  goro::wait_group wg;
  int result = 0;
  if (fixed) wg.add(1);
  goro::go([&wg, &result, fixed] {
    if (!fixed) wg.add(1);
    result = 1;
    wg.done();
  });
  wg.wait();
  bool done = result == 1;
  goro::sleep_for(std::chrono::seconds(1));  // keep result and wg alive until the goroutine is done (virtual time)
  expect(done, "wait_group misuse: wait returned before the work was done");
}

// --- blocking: lock order ----------------------------------------------------
// Two goroutines take two mutexes in opposite orders. Fix: one order.
void lock_order(bool fixed) {
  goro::mutex a, b;
  goro::wait_group wg;
  wg.go([&] {
    std::scoped_lock<goro::mutex> la(a);
    std::scoped_lock<goro::mutex> lb(b);
  });
  wg.go([&] {
    goro::mutex& first = fixed ? a : b;
    goro::mutex& second = fixed ? b : a;
    std::scoped_lock<goro::mutex> l1(first);
    std::scoped_lock<goro::mutex> l2(second);
  });
  wg.wait();
}

// --- non-blocking: data race -------------------------------------------------
// counter++ from two goroutines on a sim::shared: the race detector reports it
// (a race_error) whether or not an update is lost. Fix: a mutex.
void data_race(bool fixed) {
  goro::sim::shared<int> counter(0);
  goro::mutex mu;
  goro::wait_group wg;
  for (int i = 0; i < 2; ++i)
    wg.go([&] {
      if (fixed) {
        std::lock_guard<goro::mutex> lk(mu);
        counter++;
      } else {
        counter++;
      }
    });
  wg.wait();
  expect(counter.load() == 2, "data race: lost update");
}

// --- non-blocking: lost update ----------------------------------------------
// i++ as a load, a scheduling point (the goroutine can be preempted there on a
// real machine) and a store: two increments may leave 1. A relaxed atomic, so
// that it is a lost update and not a data race (TSan stays silent). Fix: a
// mutex around the increment.
void lost_update(bool fixed) {
  std::atomic<int> counter{0};
  goro::mutex mu;
  goro::wait_group wg;
  for (int i = 0; i < 2; ++i)
    wg.go([&] {
      std::unique_lock<goro::mutex> lk(mu, std::defer_lock);
      if (fixed) lk.lock();
      int v = counter.load(std::memory_order_relaxed);
      goro::sim::point();
      counter.store(v + 1, std::memory_order_relaxed);
    });
  wg.wait();
  expect(counter.load(std::memory_order_relaxed) == 2, "lost update");
}

// --- non-blocking: order violation -----------------------------------------
// main uses a configuration that a goroutine initializes, assuming the
// goroutine has run. Fix: wait for a ready signal.
void order_violation(bool fixed) {
  goro::sim::shared<int> config(0);
  goro::chan<int> ready;
  goro::go([&config, ready] {
    config = 8080;
    ready.close();
  });
  if (fixed) (void)ready.recv();
  else goro::sim::point();  // "it has surely run by now"
  bool initialized = config.load() == 8080;
  (void)ready.recv();  // keep config alive until the goroutine is done
  expect(initialized, "order violation: the configuration was not initialized yet");
}

// --- non-blocking: atomicity violation ---------------------------------------
// Check-then-act split over two critical sections: both withdrawals pass the
// check before either subtracts, and the balance goes negative. Fix: one
// critical section.
void atomicity_violation(bool fixed) {
  goro::mutex mu;
  int balance = 100;
  goro::wait_group wg;
  for (int i = 0; i < 2; ++i)
    wg.go([&] {
      if (fixed) {
        std::lock_guard<goro::mutex> lk(mu);
        if (balance >= 80) balance -= 80;
        return;
      }
      bool ok;
      {
        std::lock_guard<goro::mutex> lk(mu);
        ok = balance >= 80;
      }
      if (ok) {
        std::lock_guard<goro::mutex> lk(mu);
        balance -= 80;
      }
    });
  wg.wait();
  expect(balance >= 0, "atomicity violation: negative balance");
}

// --- non-blocking: double close ------------------------------------------------
// Each of two finishing workers closes `done` unless a (mutex-protected) flag
// says it is closed already; the flag is set after the close, in a second
// critical section. Both may see it unset. Fix: call_once.
void double_close(bool fixed) {
  goro::chan<int> done;
  goro::mutex mu;
  bool closed = false;
  goro::once_flag once;
  goro::wait_group wg;
  for (int i = 0; i < 2; ++i)
    wg.go([&] {
      if (fixed) {
        goro::call_once(once, [&] { done.close(); });
        return;
      }
      bool was;
      {
        std::lock_guard<goro::mutex> lk(mu);
        was = closed;
      }
      if (!was) {
        done.close();  // throws closed_channel the second time: a panic in Go
        std::lock_guard<goro::mutex> lk(mu);
        closed = true;
      }
    });
  wg.wait();
}

// --- non-blocking: send on a closed channel --------------------------------
// The consumer closes the data channel to tell the producer to stop; a send
// already on its way panics. Fix: a separate quit channel the producer selects on.
void send_on_closed(bool fixed) {
  goro::chan<int> data(1), quit;
  goro::wait_group wg;
  wg.go([=] {
    for (int i = 0; i < 3; ++i) {
      if (fixed) {
        bool stop = false;
        goro::select(goro::send_case(data, i, [] {}), goro::recv_case(quit, [&](auto) { stop = true; }));
        if (stop) return;
      } else {
        data.send(i);  // throws closed_channel once the consumer closed data
      }
    }
  });
  (void)data.recv();
  if (fixed) quit.close();
  else data.close();
  wg.wait();
}

// ===========================================================================
// Orders a real machine allows after an operation that readies another
// goroutine (docs/design.md, "Deterministic mode", the audit): each of these
// bugs needs the readied goroutine to run before the next plain statement of
// the goroutine that readied it. Before each such operation took a scheduling
// point after it, no seed found any of them (measured over 10,000 seeds of
// random and of pct). The shared state is a std::mutex-guarded map or a
// relaxed atomic, touched with no goro call in between: an order violation,
// not a data race, so that TSan (tsan preset) stays silent while goro's
// schedule finds the bad order.

// --- go: the child may run before the parent's next statement ----------------
// A worker registers itself in a std::map when it starts; the parent, right
// after the go statement, walks the map assuming the new worker is not in it
// yet (it hands out the workers registered so far). On a real machine the
// child may start on another P at once. Fix: the worker registers only after
// the parent's start signal.
void go_child_first(bool fixed) {
  std::mutex registry_mu;       // a std::mutex: no goro call, no scheduling point
  std::map<int, int> registry;  // worker id -> slot
  goro::chan<int> start;
  goro::wait_group wg;
  wg.go([&registry_mu, &registry, start, fixed] {
    if (fixed) (void)start.recv();
    std::lock_guard<std::mutex> lk(registry_mu);
    registry[1] = 1;
  });
  int handed_out = 0;
  {
    std::lock_guard<std::mutex> lk(registry_mu);
    for (const auto& entry : registry) handed_out += entry.second;
    registry[0] = 0;
  }
  start.close();
  wg.wait();  // the worker uses the registry: the check throws only after it is done
  expect(handed_out == 0, "go: the new goroutine registered itself before the parent's next statement");
}

// --- close: the woken receiver may run before the closer's next statement -----
// The closer signals "configured" by closing a channel, then publishes the
// configuration: a waiter woken by the close may read it first. Fix: publish,
// then close.
void close_then_publish(bool fixed) {
  std::atomic<const int*> config{nullptr};
  const int value = 8080;
  goro::chan<int> configured;
  goro::wait_group wg;
  int seen = 0;
  wg.go([&] {
    (void)configured.recv();
    const int* c = config.load(std::memory_order_relaxed);
    seen = c != nullptr ? *c : -1;
  });
  goro::sim::point();  // let the waiter park (or not)
  if (fixed) config.store(&value, std::memory_order_relaxed);
  configured.close();
  if (!fixed) config.store(&value, std::memory_order_relaxed);
  wg.wait();
  expect(seen == 8080, "close: the woken receiver ran before the configuration was published");
}

// --- unlock: the woken waiter may take the lock before the unlocker's next
// statement. The unlocker updates the state it guards just after unlock. Fix:
// update inside the critical section.
void unlock_then_update(bool fixed) {
  goro::mutex mu;
  std::atomic<int> phase{0};
  int seen = 0;
  goro::wait_group wg;
  mu.lock();
  wg.go([&] {
    std::lock_guard<goro::mutex> lk(mu);
    seen = phase.load(std::memory_order_relaxed);
  });
  if (fixed) phase.store(1, std::memory_order_relaxed);
  mu.unlock();
  if (!fixed) phase.store(1, std::memory_order_relaxed);
  wg.wait();
  expect(seen == 1, "unlock: the waiter saw the state before the unlocker's update");
}

// --- wait_group::done: the woken waiter may run before the worker's next
// statement. The worker counts its result after done(); main reads the count
// after wait(). Fix: count, then done().
void done_then_count(bool fixed) {
  goro::wait_group wg;
  std::atomic<int> finished{0};
  goro::chan<int> exited;
  wg.add(1);
  goro::go([&wg, &finished, exited, fixed] {
    if (fixed) finished.fetch_add(1, std::memory_order_relaxed);
    wg.done();
    if (!fixed) finished.fetch_add(1, std::memory_order_relaxed);
    exited.close();
  });
  wg.wait();
  int seen = finished.load(std::memory_order_relaxed);
  (void)exited.recv();  // keep the locals alive until the worker is done
  expect(seen == 1, "wait_group: wait returned before the worker's last statement");
}

// --- context cancel: a goroutine woken by the cancel may run before the
// canceller's next statement. The canceller records why after cancelling.
// Fix: record, then cancel.
void cancel_then_reason(bool fixed) {
  auto [ctx, cancel] = goro::with_cancel(goro::context());
  std::atomic<const char*> reason{nullptr};
  std::string seen;
  goro::wait_group wg;
  wg.go([&, ctx = ctx] {
    (void)ctx.done().recv();
    const char* r = reason.load(std::memory_order_relaxed);
    seen = r != nullptr ? r : "none";
  });
  goro::sim::point();
  if (fixed) reason.store("shutdown", std::memory_order_relaxed);
  cancel();
  if (!fixed) reason.store("shutdown", std::memory_order_relaxed);
  wg.wait();
  expect(seen == "shutdown", "cancel: the woken goroutine ran before the reason was recorded");
}

// ===========================================================================
// Leaks (explore_options::fail_on_leak): a goroutine still blocked for good
// once main has returned. Goroutines that outlive main must not use main's
// locals: these capture handles and shared_ptrs by value.

// --- leak: a result nobody reads after a timeout ------------------------------
// main waits for a worker's result or a timeout, whichever comes first, and
// returns. When the timeout wins, the worker blocks for good on its send to
// the unbuffered channel. Fix: a buffer of one (the send always completes).
void leak_after_timeout(bool fixed) {
  goro::chan<int> result(fixed ? 1 : 0);
  goro::go([result] {
    goro::sleep_for(std::chrono::milliseconds(10));  // the work
    result.send(42);
  });
  int got = 0;
  goro::select(goro::recv_case(result, [&](std::optional<int> v) { got = v.value_or(0); }),
               goro::recv_case(goro::after(std::chrono::milliseconds(10)), [](auto) {}));
  (void)got;
}

// --- leak: a producer still sending after its consumer was cancelled ---------
// A producer checks its context before each send, then sends on a plain
// (unbuffered) send. The consumer takes what it needs, cancels and returns: a
// producer that passed its check just before the cancel blocks for good.
// Fix: the send selects on ctx.done() too.
void leak_after_cancel(bool fixed) {
  auto [ctx, cancel] = goro::with_cancel(goro::context());
  goro::chan<int> out;
  goro::go([ctx = ctx, out, fixed] {
    for (int i = 0;; ++i) {
      if (fixed) {
        bool stop = false;
        goro::select(goro::send_case(out, i, [] {}), goro::recv_case(ctx.done(), [&](auto) { stop = true; }));
        if (stop) return;
      } else {
        if (ctx.err()) return;
        out.send(i);
      }
    }
  });
  for (int i = 0; i < 3; ++i) (void)out.recv();
  cancel();
}

// --- leak: a lost wake-up on a condition variable ------------------------------
// The waiter checks the flag under the lock, drops the lock to log, then waits
// without checking again: a notify in between is lost and it waits for good.
// Fix: wait with the predicate under one lock.
void leak_lost_wakeup(bool fixed) {
  struct shared_state {
    goro::mutex mu;
    goro::condition_variable cv;
    bool ready = false;
  };
  auto st = std::make_shared<shared_state>();
  goro::chan<int> started;
  goro::go([st, started, fixed] {
    std::unique_lock<goro::mutex> lk(st->mu);
    started.close();
    if (fixed) {
      st->cv.wait(lk, [&] { return st->ready; });
      return;
    }
    if (st->ready) return;
    lk.unlock();
    goro::sim::point();  // "log that we are about to wait"
    lk.lock();
    st->cv.wait(lk);
  });
  (void)started.recv();
  {
    std::lock_guard<goro::mutex> lk(st->mu);
    st->ready = true;
  }
  st->cv.notify_one();
}

// --- leak: a ticker-driven worker nobody stops ---------------------------------
// A worker does periodic work on a ticker until told to quit. main does its
// own work and returns, forgetting to tell it: the worker waits on the ticker
// for good (only the ticker could wake it). Fix: close quit before returning;
// the worker then stops its ticker and ends.
void leak_ticker_worker(bool fixed) {
  goro::chan<int> quit;
  goro::go([quit] {
    goro::ticker t(std::chrono::milliseconds(10));
    int ticks = 0;
    for (bool stop = false; !stop;)
      goro::select(goro::recv_case(t.c(), [&](auto) { ++ticks; }), goro::recv_case(quit, [&](auto) { stop = true; }));
    t.stop();
  });
  goro::sleep_for(std::chrono::milliseconds(35));
  if (fixed) quit.close();
}

struct bug {
  const char* name;
  void (*body)(bool fixed);
};

const bug bugs[] = {
    {"blocking: channel misuse (send with nobody left to receive)", chan_misuse},
    {"blocking: mutex misuse (return without unlock)", mutex_misuse},
    {"wait_group misuse (add inside the goroutine)", wait_group_misuse},
    {"blocking: lock order", lock_order},
    {"non-blocking: data race (sim::shared)", data_race},
    {"non-blocking: lost update (load, point, store)", lost_update},
    {"non-blocking: order violation", order_violation},
    {"non-blocking: atomicity violation", atomicity_violation},
    {"non-blocking: double close", double_close},
    {"non-blocking: send on a closed channel", send_on_closed},
};

const bug order_bugs[] = {
    {"go: the child runs before the parent's next statement", go_child_first},
    {"close: the woken receiver runs before the closer goes on", close_then_publish},
    {"unlock: the waiter takes the lock before the unlocker goes on", unlock_then_update},
    {"wait_group: done wakes wait before the worker goes on", done_then_count},
    {"context: cancel wakes a goroutine before the canceller goes on", cancel_then_reason},
};

const bug leak_bugs[] = {
    {"leak: a result nobody reads after a timeout", leak_after_timeout},
    {"leak: a producer blocked after its consumer cancelled", leak_after_cancel},
    {"leak: a lost wake-up on a condition_variable", leak_lost_wakeup},
    {"leak: a ticker-driven worker nobody stops", leak_ticker_worker},
};

// replay_choices: the failure of the schedule r.choices (GORO_CHOICES with
// fail_on_leak, which run_with_choices has no option for).
std::string replay_choices(const bug& b, const goro::sim::explore_result& r, bool fail_on_leak) {
  std::string again = "(passed)";
  try {
    if (!fail_on_leak) {
      goro::sim::run_with_choices(r.choices, [&b] { b.body(false); });
    } else {
      ::setenv("GORO_CHOICES", goro_test::hex(r.choices).c_str(), 1);
      goro::run([&b] { b.body(false); }, {.fail_on_leak = true});
    }
  } catch (const std::exception& e) {
    again = e.what();
  }
  ::unsetenv("GORO_CHOICES");
  return again;
}

// kind: a report's first line up to its parenthesis (a race's names the seed or the choices).
std::string kind(const std::string& msg) { return msg.substr(0, std::min(msg.find('\n'), msg.find('('))); }

// find_and_fix: explore finds b within find_within seeds with random and with
// pct, shrinks it, the shrunk schedule replays word for word from its choices,
// the seed replays the same kind of failure, and the fix passes fixed_runs
// seeds; dfs (bound 2) finds it too. Prints the row: seeds to find (random,
// pct), dfs's schedules to find and the shrunk preemptions (dfs explores
// bound 0, then 1, then 2: its count is the least any schedule needs).
void find_and_fix(const bug& b, bool fail_on_leak) {
  const std::size_t find_within = 10'000;
  const std::size_t fixed_runs = static_cast<std::size_t>(goro_test::scale(10'000));
  std::size_t found[2] = {0, 0};
  unsigned pre[2] = {0, 0};
  for (strategy how : {strategy::random, strategy::pct}) {
    INFO(b.name << (how == strategy::pct ? " (pct)" : " (random)"));
    goro::sim::explore_result r = goro::sim::explore(
        [&b] { b.body(false); },
        {.first_seed = 1, .runs = find_within, .how = how, .pct_depth = 3, .pct_steps = 100, .fail_on_leak = fail_on_leak});
    REQUIRE_FALSE(r.ok);
    found[how == strategy::pct] = r.runs_done;
    pre[how == strategy::pct] = r.preemptions;
    CHECK(r.message.find(" preemption") != std::string::npos);
    // The shrunk schedule replays from its choices: the same failure, word for word.
    REQUIRE_FALSE(r.choices.empty());
    CHECK(goro_test::same_report_text(replay_choices(b, r, fail_on_leak)) ==
          goro_test::same_report_text(goro_test::without_shrink_note(r.message)));
    // The seed replays the same kind of failure (its schedule, unshrunk, is longer).
    std::string again;
    try {
      goro::run([&b] { b.body(false); },
                {.seed = r.failing_seed, .how = how, .pct_depth = 3, .pct_steps = 100, .fail_on_leak = fail_on_leak});
    } catch (const std::exception& e) {
      again = e.what();
    }
    CHECK(kind(again) == kind(r.message));
    goro::sim::explore_result ok = goro::sim::explore(
        [&b] { b.body(true); },
        {.first_seed = 1, .runs = fixed_runs, .how = how, .pct_depth = 3, .pct_steps = 100, .fail_on_leak = fail_on_leak});
    INFO(ok.message);
    CHECK(ok.ok);
    CHECK(ok.runs_done == fixed_runs);
  }
  goro::sim::explore_result d = goro::sim::explore(
      [&b] { b.body(false); }, {.runs = 100'000, .how = strategy::dfs, .max_preemptions = 2, .fail_on_leak = fail_on_leak});
  std::string dfs_found = d.ok ? std::string(d.exhausted ? "none" : "-") : std::to_string(d.runs_done);
  std::string dfs_pre = d.ok ? std::string("-") : std::to_string(d.preemptions);
  if (!d.ok) {
    INFO(b.name << " (dfs)");
    CHECK(goro_test::same_report_text(replay_choices(b, d, fail_on_leak)) ==
          goro_test::same_report_text(goro_test::without_shrink_note(d.message)));
    // (A shrunk random or pct failure may need fewer preemptions than dfs's
    // bound: it may keep a free choice where the running goroutine blocked,
    // which dfs always gives to the lowest id.)
  }
  std::printf("%-62s %8zu %8zu %8s %6s %6u %6u\n", b.name, found[0], found[1], dfs_found.c_str(), dfs_pre.c_str(), pre[0], pre[1]);
}

void table_header(const char* what) {
  std::printf("%-62s %8s %8s %8s %6s %6s %6s\n", what, "random", "pct", "dfs", "bound", "p(rnd)", "p(pct)");
}

}  // namespace

TEST_CASE("det bugs: orders after a wake-up are reachable: each bug is found and each fix passes", "[det][bugs]") {
  table_header("order after a wake-up (seeds, schedules, preemptions)");
  for (const bug& b : order_bugs) find_and_fix(b, false);
}

TEST_CASE("det bugs: leaks are found with fail_on_leak and each fix passes", "[det][bugs][leak]") {
  table_header("leak (fail_on_leak)");
  for (const bug& b : leak_bugs) {
    find_and_fix(b, true);
    // Without fail_on_leak the leaking version passes: a leak alone is no failure.
    goro::sim::explore_result r = goro::sim::explore([&b] { b.body(false); }, {.first_seed = 1, .runs = 100});
    INFO(b.name << ": " << r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("det bugs: each bug is found within 10,000 seeds (random and pct) and replays; each fix passes", "[det][bugs]") {
  table_header("bug (Tu et al. category)");
  for (const bug& b : bugs) find_and_fix(b, false);
}

TEST_CASE("det bugs: dfs finds the lock-order deadlock and the lost update at bound 1 and not 0", "[det][bugs][dfs]") {
  for (auto body : {lock_order, lost_update}) {
    goro::sim::explore_result r0 = goro::sim::explore([body] { body(false); }, {.how = strategy::dfs, .max_preemptions = 0});
    CHECK(r0.ok);
    CHECK(r0.exhausted);
    CHECK(r0.runs_done == 1);
    goro::sim::explore_result r1 = goro::sim::explore([body] { body(false); }, {.how = strategy::dfs, .max_preemptions = 1});
    REQUIRE_FALSE(r1.ok);
    CHECK(r1.preemptions == 1);
    CHECK(r1.runs_done > 1);
    // The fixes: every schedule within 2 preemptions passes.
    goro::sim::explore_result ok =
        goro::sim::explore([body] { body(true); }, {.runs = 1'000'000, .how = strategy::dfs, .max_preemptions = 2});
    INFO(ok.message);
    CHECK(ok.ok);
    CHECK(ok.exhausted);
  }
}

TEST_CASE("det bugs: random's long failing schedules shrink to one preemption and replay", "[det][bugs][shrink]") {
  for (auto body : {lock_order, lost_update}) {
    // Seeds from 100 on: random's schedules switch at about every other point.
    goro::sim::explore_result off =
        goro::sim::explore([body] { body(false); }, {.first_seed = 100, .runs = 10'000, .shrink = false});
    goro::sim::explore_result r = goro::sim::explore([body] { body(false); }, {.first_seed = 100, .runs = 10'000});
    REQUIRE_FALSE(r.ok);
    REQUIRE_FALSE(off.ok);
    INFO(r.message);
    CHECK(off.failing_seed == r.failing_seed);
    CHECK(off.preemptions > 1);  // the schedule as found
    CHECK(r.preemptions == 1);
    CHECK(r.message.find("needs 1 preemption (shrunk from " + std::to_string(off.preemptions) + " ") != std::string::npos);
    CHECK(r.choices.size() <= off.choices.size());
    std::string again;
    try {
      goro::sim::run_with_choices(r.choices, [body] { body(false); });
    } catch (const std::exception& e) {
      again = e.what();
    }
    CHECK(goro_test::same_report_text(again) == goro_test::same_report_text(goro_test::without_shrink_note(r.message)));
  }
}
