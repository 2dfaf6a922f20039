// The categories of Tu et al., "Understanding Real-World Concurrency Bugs in
// Go" (ASPLOS 2019), as small goroutine programs, each with its fix: blocking
// bugs (channel misuse, mutex misuse, wait_group misuse, lock order) and
// non-blocking ones (a data race, order and atomicity violations, double
// close, send on a closed channel). Each bug must be found by explore within
// 10,000 seeds with strategy random and with pct, and replay from its seed;
// each fixed version must pass 10,000 seeds (fewer under the sanitizers).
// The seeds-to-find table is printed (the note quotes it).
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
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
  expect(result == 1, "wait_group misuse: wait returned before the work was done");
  goro::sleep_for(std::chrono::seconds(1));  // keep result alive until the goroutine is done (virtual time)
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
  expect(config.load() == 8080, "order violation: the configuration was not initialized yet");
  (void)ready.recv();  // keep config alive until the goroutine is done
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
    {"non-blocking: order violation", order_violation},
    {"non-blocking: atomicity violation", atomicity_violation},
    {"non-blocking: double close", double_close},
    {"non-blocking: send on a closed channel", send_on_closed},
};

}  // namespace

TEST_CASE("det bugs: each bug is found within 10,000 seeds (random and pct) and replays; each fix passes", "[det][bugs]") {
  const std::size_t find_within = 10'000;
  const std::size_t fixed_runs = static_cast<std::size_t>(goro_test::scale(10'000));
  std::printf("%-62s %14s %14s\n", "bug (Tu et al. category)", "seeds: random", "seeds: pct");
  for (const bug& b : bugs) {
    std::size_t found[2] = {0, 0};
    for (strategy how : {strategy::random, strategy::pct}) {
      INFO(b.name << (how == strategy::pct ? " (pct)" : " (random)"));
      goro::sim::explore_result r =
          goro::sim::explore([&b] { b.body(false); }, {.first_seed = 1, .runs = find_within, .how = how, .pct_depth = 3, .pct_steps = 100});
      REQUIRE_FALSE(r.ok);
      found[how == strategy::pct] = r.runs_done;
      // Replays from its seed: the same failure, word for word.
      std::string again;
      try {
        goro::run([&b] { b.body(false); }, {.seed = r.failing_seed, .how = how, .pct_depth = 3, .pct_steps = 100});
      } catch (const std::exception& e) {
        again = e.what();
      }
      CHECK(goro_test::same_report_text(again) == goro_test::same_report_text(r.message));
      // The fix holds over every seed tried.
      goro::sim::explore_result ok =
          goro::sim::explore([&b] { b.body(true); }, {.first_seed = 1, .runs = fixed_runs, .how = how, .pct_depth = 3, .pct_steps = 100});
      INFO(ok.message);
      CHECK(ok.ok);
      CHECK(ok.runs_done == fixed_runs);
    }
    std::printf("%-62s %14zu %14zu\n", b.name, found[0], found[1]);
  }
}
