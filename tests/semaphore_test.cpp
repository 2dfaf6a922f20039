// goro::semaphore (Go's golang.org/x/sync/semaphore.Weighted): ports of
// x/sync's semaphore/semaphore_test.go (TestWeighted, TestWeightedPanic,
// TestWeightedTryAcquire, TestWeightedAcquire, TestWeightedDoesntBlockIfTooBig,
// TestLargeAcquireDoesntStarve, TestAllocCancelDoesntStarve,
// TestWeightedAcquireCanceled), plus the contract of docs/reference.md
// ("Cancellation"): FIFO order with a large head holding back smaller
// requests, a grant that comes before the cancellation wins, bad arguments,
// plain OS threads, a context cancelled from another goroutine or a plain
// thread, unwinding at shutdown, the deadlock report, and stress with
// cancellations racing grants (no waiter is ever left behind).
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through atomics
// or test-scope variables. Plain (non-atomic) data written under the
// semaphore lets the TSan job check the release -> acquire edge.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct exit_guard {
  std::atomic<int>* n;
  ~exit_guard() { n->fetch_add(1); }
};

// parked_in_acquire: how many goroutines of this runtime are parked in
// semaphore::acquire (the dump shows the wait reason once the waiter has
// queued itself: it queues, then parks).
int parked_in_acquire() {
  std::string d = goro::debug::dump();
  int n = 0;
  for (std::size_t at = d.find("[semaphore.Acquire"); at != std::string::npos; at = d.find("[semaphore.Acquire", at + 1)) ++n;
  return n;
}

// wait_parked waits until n goroutines are parked in acquire. Main goroutine
// only. If that never happens (an acquire that should wait did not), it
// aborts after a generous 30 s with a message: throwing would unwind main's
// frame, and the semaphore in it, under goroutines still parked on it.
void wait_parked(int n) {
  auto give_up = std::chrono::steady_clock::now() + 30s;
  while (parked_in_acquire() != n) {
    if (std::chrono::steady_clock::now() > give_up) {
      std::fprintf(stderr, "wait_parked: %d goroutines never parked in acquire\n%s", n, goro::debug::dump().c_str());
      std::abort();
    }
    goro::yield();
  }
}

// keep_checkdead_off: a goroutine that wakes every 10 ms until main returns
// (then it is unwound). While goroutines wait for a plain OS thread that is
// between two goro calls, a pending timer keeps threaded checkdead quiet
// (see chan_test.cpp).
void keep_checkdead_off() {
  goro::go([] {
    for (;;) goro::sleep_for(10ms);
  });
}

// xorshift: a per-goroutine random number.
std::uint32_t next_rand(std::uint32_t& s) {
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

}  // namespace

// Go: TestWeighted (HammerWeighted). Goroutines acquire random weights (0 to
// the size) and release them; the units held never exceed the size.
TEST_CASE("semaphore: Go TestWeighted, hammering with random weights never exceeds the size", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr std::int64_t size = 6;
  constexpr int workers = 16;
  const long loops = goro_test::scale(2000);
  std::atomic<std::int64_t> in_use{0}, worst{0};
  std::atomic<long> done{0};
  bool full_after = false;
  goro::run(
      [&] {
        goro::semaphore sem(size);
        goro::wait_group wg;
        for (int i = 0; i < workers; ++i)
          wg.go([&, i] {
            std::uint32_t r = 0x9e3779b9u * static_cast<std::uint32_t>(i + 1);
            for (long k = 0; k < loops; ++k) {
              std::int64_t w = static_cast<std::int64_t>(next_rand(r) % (size + 1));
              sem.acquire(w);
              std::int64_t now = in_use.fetch_add(w) + w;
              std::int64_t prev = worst.load();
              while (now > prev && !worst.compare_exchange_weak(prev, now)) {
              }
              for (std::uint32_t y = next_rand(r) % 3; y > 0; --y) goro::yield();
              in_use.fetch_sub(w);
              sem.release(w);
            }
            done.fetch_add(1);
          });
        wg.wait();
        full_after = sem.try_acquire(size);
      },
      goro::config{.procs = procs});
  CHECK(done.load() == workers);
  CHECK(worst.load() <= size);
  CHECK(worst.load() > 0);
  CHECK(full_after);
}

// The memory model on plain data (no atomics in the loops, so the TSan builds
// see only the semaphore's edges: a release happens before the acquire it
// satisfies): a semaphore of 4 as a read-write lock, as in x/sync's comment on
// notifyWaiters. Writers take all 4 units and increment a plain counter
// across a yield (a lost update shows a broken exclusion even without TSan);
// readers take 1 and see the counter unchanged across a yield. The writers
// queue behind the readers' units and are not starved.
TEST_CASE("semaphore: as a read-write lock on plain data", "[semaphore][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr std::int64_t size = 4;
  constexpr int writers = 2, readers = 6;
  const long loops = goro_test::scale(1000);
  long value = 0;
  std::atomic<long> torn_reads{0}, reads{0};
  goro::run(
      [&] {
        goro::semaphore sem(size);
        goro::wait_group wg;
        for (int i = 0; i < writers; ++i)
          wg.go([&] {
            for (long k = 0; k < loops; ++k) {
              sem.acquire(size);
              long v = value;
              goro::yield();
              value = v + 1;
              sem.release(size);
            }
          });
        for (int i = 0; i < readers; ++i)
          wg.go([&] {
            long torn = 0, n = 0;
            for (long k = 0; k < loops; ++k) {
              sem.acquire(1);
              long v = value;
              goro::yield();
              if (value != v) ++torn;
              ++n;
              sem.release(1);
            }
            torn_reads.fetch_add(torn);
            reads.fetch_add(n);
          });
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(value == writers * loops);
  CHECK(torn_reads.load() == 0);
  CHECK(reads.load() == readers * loops);
}

// Go: TestWeightedPanic (release of more than is held panics); here
// std::logic_error, and nothing changes. Bad arguments:
// std::invalid_argument.
TEST_CASE("semaphore: Go TestWeightedPanic, releasing more than held throws logic_error and changes nothing", "[semaphore]") {
  bool over_fresh = false, over_held = false, over_with_waiter = false, neg_ctor = false;
  int neg_calls = 0;
  std::vector<bool> after;
  bool waiter_done = false;
  goro::run([&] {
    goro::semaphore w(1);
    try {
      w.release(1);
    } catch (const std::logic_error&) {
      over_fresh = true;
    }
    after.push_back(w.try_acquire(1));  // true: still 1 free
    after.push_back(w.try_acquire(1));  // false
    w.release(1);

    goro::semaphore s(3);
    s.acquire(2);
    try {
      s.release(3);
    } catch (const std::logic_error&) {
      over_held = true;
    }
    after.push_back(s.try_acquire(1));  // true: 2 held, 1 free
    after.push_back(s.try_acquire(1));  // false
    // A waiter queued meanwhile is not woken by a failed release.
    goro::chan<int> got(1);
    goro::go([&] {
      s.acquire(2);
      got.send(1);
    });
    wait_parked(1);
    try {
      s.release(4);
    } catch (const std::logic_error&) {
      over_with_waiter = true;
    }
    after.push_back(got.try_recv().has_value());  // false
    s.release(2);                                 // 1 held: the waiter's 2 fit
    waiter_done = got.recv().has_value();
    s.release(3);
    after.push_back(s.try_acquire(3));  // true: all free, no waiter left

    try {
      goro::semaphore bad(-1);
    } catch (const std::invalid_argument&) {
      neg_ctor = true;
    }
    try {
      s.acquire(-1);
    } catch (const std::invalid_argument&) {
      ++neg_calls;
    }
    try {
      s.acquire(goro::context(), -1);
    } catch (const std::invalid_argument&) {
      ++neg_calls;
    }
    try {
      (void)s.try_acquire(-1);
    } catch (const std::invalid_argument&) {
      ++neg_calls;
    }
    try {
      s.release(-1);
    } catch (const std::invalid_argument&) {
      ++neg_calls;
    }
    after.push_back(s.try_acquire(1));  // false: the bad calls changed nothing (3 held)
    s.release(3);
  });
  CHECK(over_fresh);
  CHECK(over_held);
  CHECK(over_with_waiter);
  CHECK(waiter_done);
  CHECK(neg_ctor);
  CHECK(neg_calls == 4);
  CHECK(after == std::vector<bool>{true, false, true, false, false, true, false});
}

// Go: TestWeightedTryAcquire.
TEST_CASE("semaphore: Go TestWeightedTryAcquire", "[semaphore]") {
  std::vector<bool> tries;
  goro::run([&] {
    goro::semaphore sem(2);
    sem.acquire(1);
    tries.push_back(sem.try_acquire(1));
    tries.push_back(sem.try_acquire(1));
    sem.release(2);
    tries.push_back(sem.try_acquire(1));
    sem.acquire(1);
    tries.push_back(sem.try_acquire(1));
    // A request larger than the size never succeeds; 0 always does while
    // nobody waits.
    tries.push_back(sem.try_acquire(3));
    tries.push_back(sem.try_acquire(0));
  });
  CHECK(tries == std::vector<bool>{true, false, true, false, false, true});
}

// Go: TestWeightedAcquire. acquire with a 10 ms timeout: the waits that time
// out throw timeout_error having taken nothing, and the full size can be
// acquired afterwards.
TEST_CASE("semaphore: Go TestWeightedAcquire, a wait that times out takes nothing", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<bool> tries;
  int timeouts = 0;
  bool full_after = false;
  goro::run(
      [&] {
        goro::semaphore sem(2);
        auto try_acquire = [&](std::int64_t n) {
          auto [ctx, cancel] = goro::with_timeout(goro::context(), 10ms);
          try {
            sem.acquire(ctx, n);
            return true;
          } catch (const goro::timeout_error&) {
            ++timeouts;
            return false;
          }
        };
        sem.acquire(1);
        tries.push_back(try_acquire(1));
        tries.push_back(try_acquire(1));
        sem.release(2);
        tries.push_back(try_acquire(1));
        sem.acquire(1);
        tries.push_back(try_acquire(1));
        sem.release(2);
        full_after = sem.try_acquire(2);
      },
      goro::config{.procs = procs});
  CHECK(tries == std::vector<bool>{true, false, true, false});
  CHECK(timeouts == 2);
  CHECK(full_after);
}

// Go: TestWeightedAcquireCanceled (go.dev/issue/63615). The context is
// cancelled before the units become free: the acquire fails with
// canceled_error, the semaphore keeps its two units, and an acquire with the
// done context fails even when it would not have to wait.
TEST_CASE("semaphore: Go TestWeightedAcquireCanceled, a cancel before the units are free fails the acquire", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool canceled = false, full_after = false, done_fails = false;
  goro::run(
      [&] {
        goro::semaphore sem(2);
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        sem.acquire(1);
        goro::chan<int> ch;
        goro::go([&, cancel = cancel] {
          while (sem.try_acquire(1)) {  // until the acquire(2) below has queued
            sem.release(1);
            goro::yield();
          }
          cancel();
          sem.release(1);
          ch.close();
        });
        try {
          sem.acquire(ctx, 2);
        } catch (const goro::canceled_error&) {
          canceled = true;
        }
        (void)ch.recv();
        full_after = sem.try_acquire(2);
        sem.release(2);
        try {
          sem.acquire(ctx, 1);
        } catch (const goro::canceled_error&) {
          done_fails = true;
        }
      },
      goro::config{.procs = procs});
  CHECK(canceled);
  CHECK(full_after);
  CHECK(done_fails);
}

// The other order: the units are granted (by release, which grants under the
// semaphore's lock) before the context is cancelled: the grant wins and
// acquire returns normally.
TEST_CASE("semaphore: a grant that comes before the cancellation wins", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> succeeded{0}, failed{0};
  bool full_after = false;
  goro::run(
      [&] {
        goro::semaphore sem(2);
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        sem.acquire(2);
        goro::wait_group wg;
        wg.go([&, ctx = ctx] {
          try {
            sem.acquire(ctx, 2);
            succeeded.fetch_add(1);
            sem.release(2);
          } catch (const goro::canceled_error&) {
            failed.fetch_add(1);
          }
        });
        wait_parked(1);
        sem.release(2);  // granted now
        cancel();
        wg.wait();
        full_after = sem.try_acquire(2);
      },
      goro::config{.procs = procs});
  CHECK(succeeded.load() == 1);
  CHECK(failed.load() == 0);
  CHECK(full_after);
}

// Go: TestWeightedDoesntBlockIfTooBig. A pending acquire larger than the size
// does not queue, so it blocks nobody behind it; it waits for its context,
// which ends it with canceled_error (or, with a deadline, timeout_error, even
// though units are free).
TEST_CASE("semaphore: Go TestWeightedDoesntBlockIfTooBig", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr std::int64_t n = 2;
  std::atomic<int> ok{0}, too_big_canceled{0};
  bool too_big_timed_out = false;
  goro::run(
      [&] {
        goro::semaphore sem(n);
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        goro::wait_group big;
        big.go([&, ctx = ctx] {
          try {
            sem.acquire(ctx, n + 1);
          } catch (const goro::canceled_error&) {
            too_big_canceled.fetch_add(1);
          }
        });
        wait_parked(1);
        goro::wait_group wg;
        for (int i = 0; i < n * 3; ++i)
          wg.go([&] {
            sem.acquire(1);
            goro::sleep_for(1ms);
            sem.release(1);
            ok.fetch_add(1);
          });
        wg.wait();
        cancel();
        big.wait();
        auto [tctx, tcancel] = goro::with_timeout(goro::context(), 5ms);
        try {
          sem.acquire(tctx, n + 1);
        } catch (const goro::timeout_error&) {
          too_big_timed_out = true;
        }
      },
      goro::config{.procs = procs});
  CHECK(ok.load() == n * 3);
  CHECK(too_big_canceled.load() == 1);
  CHECK(too_big_timed_out);
}

// A request larger than the size with the background context waits for
// ever: the deadlock check reports it, naming the wait reason.
TEST_CASE("semaphore: acquire of more than the size with no context is reported as a deadlock", "[semaphore]") {
  std::string what;
  try {
    goro::run([] {
      goro::semaphore sem(2);
      sem.acquire(3);
    });
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  CHECK(what.find("deadlock") != std::string::npos);
  CHECK(what.find("semaphore.Acquire") != std::string::npos);
}

// Go: TestLargeAcquireDoesntStarve. n goroutines each hold 1 unit and keep
// releasing and re-acquiring it; main's acquire(n) queues and must get all n
// (each small re-acquire queues behind it). The small ones give up after
// `limit` rounds once main is acquiring and report it: a starving acquire(n)
// fails the test instead of hanging it.
TEST_CASE("semaphore: Go TestLargeAcquireDoesntStarve", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const std::int64_t n = 4;
  constexpr long limit = 100'000;
  std::atomic<bool> running{true}, large_waiting{false};
  std::atomic<int> gave_up{0};
  bool got_all = false;
  goro::run(
      [&] {
        goro::semaphore sem(n);
        goro::wait_group wg;
        for (std::int64_t i = 0; i < n; ++i) {
          sem.acquire(1);
          wg.go([&] {
            long rounds = 0;
            while (running.load() && rounds < limit) {
              if (large_waiting.load()) ++rounds;
              goro::yield();
              sem.release(1);
              sem.acquire(1);
            }
            if (rounds == limit) gave_up.fetch_add(1);
            sem.release(1);
          });
        }
        large_waiting.store(true);
        sem.acquire(n);
        got_all = true;
        running.store(false);
        sem.release(n);
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(got_all);
  CHECK(gave_up.load() == 0);
}

// Go: TestAllocCancelDoesntStarve. A cancelled acquire(10) at the head lets
// the smaller acquire behind it through. Go's order (the cancel races the
// small acquire), then forced: the small one is queued behind the large one
// before the cancel (without the head's hand-on it would wait for ever, and
// run would report a deadlock).
TEST_CASE("semaphore: Go TestAllocCancelDoesntStarve, a cancelled large head lets smaller ones through", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  auto forced = GENERATE(false, true);
  bool small_ok = false, full_after = false;
  std::atomic<int> large_canceled{0};
  goro::run(
      [&] {
        goro::semaphore sem(10);
        sem.acquire(1);  // so that acquire(10) waits
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        goro::wait_group large;
        large.go([&, ctx = ctx] {
          try {
            sem.acquire(ctx, 10);
          } catch (const goro::canceled_error&) {
            large_canceled.fetch_add(1);
          }
        });
        while (sem.try_acquire(1)) {  // until acquire(10) has queued
          sem.release(1);
          goro::yield();
        }
        if (!forced) {
          goro::go(cancel);
          sem.acquire(1);
          small_ok = true;
        } else {
          goro::wait_group small;
          small.go([&] { sem.acquire(1); });
          wait_parked(2);  // the small one is queued behind the large one
          cancel();
          small.wait();
          small_ok = true;
        }
        sem.release(1);
        large.wait();
        sem.release(1);
        full_after = sem.try_acquire(10);
      },
      goro::config{.procs = procs});
  CHECK(small_ok);
  CHECK(large_canceled.load() == 1);
  CHECK(full_after);
}

// FIFO: waiters are granted in the order they queued, and a head that does
// not fit holds back smaller requests behind it that would. Queue A(1) B(3)
// C(1) D(2) E(1) on a full semaphore of 4; each waiter reports its grant on
// `got` and holds its units until told to leave.
TEST_CASE("semaphore: waiters are granted in FIFO order; a large head holds back smaller ones", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<int> order;
  std::vector<int> last_two;
  bool blocked_behind_head = false, full_after = false;
  goro::run(
      [&] {
        goro::semaphore sem(4);
        const std::int64_t weight[] = {1, 3, 1, 2, 1};
        constexpr int k = 5;
        goro::chan<int> got(k);
        std::vector<goro::chan<int>> leave;
        for (int i = 0; i < k; ++i) leave.emplace_back(1);
        sem.acquire(4);
        goro::wait_group wg;
        for (int i = 0; i < k; ++i) {
          wg.go([&, i] {
            sem.acquire(weight[i]);
            got.send(i);
            (void)leave[static_cast<std::size_t>(i)].recv();
            sem.release(weight[i]);
          });
          wait_parked(i + 1);  // queued before the next one starts
        }
        sem.release(1);  // 1 free: A
        order.push_back(*got.recv());
        sem.release(2);  // 2 free: B (3) does not fit, and C (1), D (2) behind it must wait
        blocked_behind_head = !sem.try_acquire(1);
        if (!blocked_behind_head) sem.release(1);
        leave[0].send(0);  // A leaves: 3 free, B
        order.push_back(*got.recv());
        sem.release(1);  // main's last unit: C
        order.push_back(*got.recv());
        leave[1].send(0);  // B leaves: 3 free: D (2), then E (1)
        last_two.push_back(*got.recv());
        last_two.push_back(*got.recv());
        std::sort(last_two.begin(), last_two.end());
        for (int i = 2; i < k; ++i) leave[static_cast<std::size_t>(i)].send(0);
        wg.wait();
        full_after = sem.try_acquire(4);
      },
      goro::config{.procs = procs});
  CHECK(order == std::vector<int>{0, 1, 2});
  CHECK(last_two == std::vector<int>{3, 4});
  CHECK(blocked_behind_head);
  CHECK(full_after);
}

// A context cancelled by another goroutine ends a parked acquire with
// canceled_error; one with a deadline, with timeout_error. Each leaves no
// waiter behind: the full size can be acquired afterwards, by acquire and by
// try_acquire.
TEST_CASE("semaphore: a context cancelled from another goroutine ends a parked acquire", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> canceled{0}, timed_out{0}, other{0};
  bool full_after = false;
  goro::run(
      [&] {
        goro::semaphore sem(3);
        sem.acquire(3);
        constexpr int waiters = 8;
        goro::wait_group wg;
        std::vector<std::function<void()>> cancels;
        for (int i = 0; i < waiters; ++i) {
          auto [ctx, cancel] = goro::with_cancel(goro::context());
          cancels.push_back(cancel);
          wg.go([&, ctx = ctx, i] {
            try {
              sem.acquire(ctx, 1 + i % 3);
              other.fetch_add(1);
            } catch (const goro::canceled_error&) {
              canceled.fetch_add(1);
            }
          });
        }
        // All of them parked before the timed one starts: it may time out
        // before it parks, so it is never counted.
        wait_parked(waiters);
        {
          auto [ctx, cancel] = goro::with_timeout(goro::context(), 5ms);
          wg.go([&, ctx = ctx] {
            try {
              sem.acquire(ctx, 2);
              other.fetch_add(1);
            } catch (const goro::timeout_error&) {
              timed_out.fetch_add(1);
            }
          });
        }
        goro::wait_group cancellers;
        for (auto& c : cancels) cancellers.go(c);  // from other goroutines, in any order
        cancellers.wait();
        wg.wait();
        sem.release(3);
        sem.acquire(3);
        sem.release(3);
        full_after = sem.try_acquire(3);
      },
      goro::config{.procs = procs});
  CHECK(canceled.load() == 8);
  CHECK(timed_out.load() == 1);
  CHECK(other.load() == 0);
  CHECK(full_after);
}

// A plain OS thread cancels the context of a goroutine parked in acquire.
TEST_CASE("semaphore: a context cancelled from a plain thread ends a parked acquire", "[semaphore][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool canceled = false, full_after = false;
  std::thread t;
  goro::run(
      [&] {
        keep_checkdead_off();
        goro::semaphore sem(2);
        sem.acquire(1);
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        goro::chan<int> parked;
        goro::go([&, ctx = ctx] {
          try {
            sem.acquire(ctx, 2);
          } catch (const goro::canceled_error&) {
            canceled = true;
          }
          parked.close();
        });
        wait_parked(1);
        t = std::thread(cancel);
        (void)parked.recv();
        sem.release(1);
        full_after = sem.try_acquire(2);
      },
      goro::config{.procs = procs});
  t.join();
  CHECK(canceled);
  CHECK(full_after);
}

// Plain OS threads acquire and release (they sleep on their note instead of
// parking): among themselves with no runtime at all, and mixed with
// goroutines of a run. The plain data written by whole-semaphore holders
// checks the edge.
TEST_CASE("semaphore: acquire and release from plain threads", "[semaphore][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr std::int64_t size = 3;
  const long loops = goro_test::scale(2000);
  std::atomic<std::int64_t> in_use{0}, worst{0};
  long plain = 0;
  auto hammer = [&](goro::semaphore& sem, std::uint32_t seed, bool on_goroutine) {
    std::uint32_t r = seed;
    for (long k = 0; k < loops; ++k) {
      std::int64_t w = 1 + static_cast<std::int64_t>(next_rand(r) % size);
      sem.acquire(w);
      std::int64_t now = in_use.fetch_add(w) + w;
      std::int64_t prev = worst.load();
      while (now > prev && !worst.compare_exchange_weak(prev, now)) {
      }
      if (w == size) ++plain;
      if (on_goroutine) goro::yield();
      else std::this_thread::yield();
      in_use.fetch_sub(w);
      sem.release(w);
    }
  };
  {
    goro::semaphore sem(size);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) ts.emplace_back([&, i] { hammer(sem, 0x2545f491u * static_cast<std::uint32_t>(i + 1), false); });
    for (auto& t : ts) t.join();
    CHECK(sem.try_acquire(size));
  }
  bool full_after = false;
  std::vector<std::thread> ts;
  goro::semaphore sem(size);
  goro::run(
      [&] {
        keep_checkdead_off();
        for (int i = 0; i < 3; ++i) ts.emplace_back([&, i] { hammer(sem, 0x68e31da4u * static_cast<std::uint32_t>(i + 1), false); });
        goro::wait_group wg;
        for (int i = 0; i < 6; ++i) wg.go([&, i] { hammer(sem, 0xb5297a4du * static_cast<std::uint32_t>(i + 1), true); });
        wg.wait();
        sem.acquire(size);  // waits for the threads' units too
        sem.release(size);
      },
      goro::config{.procs = procs});
  for (auto& t : ts) t.join();
  full_after = sem.try_acquire(size);
  CHECK(worst.load() <= size);
  CHECK(full_after);
}

// A plain thread waits in acquire until a goroutine releases; what the
// goroutine wrote before its release is visible after the thread's acquire,
// and the thread's writes before its release after the goroutine's acquire.
TEST_CASE("semaphore: a plain thread parked in acquire is woken by a goroutine's release", "[semaphore][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int data = 0, thread_saw = -1, main_saw = -1;
  std::thread t;
  goro::semaphore sem(2);
  goro::run(
      [&] {
        keep_checkdead_off();
        sem.acquire(1);
        t = std::thread([&] {
          sem.acquire(2);  // queues: 1 unit is held
          thread_saw = data;
          data = 2;
          sem.release(2);
        });
        while (sem.try_acquire(1)) {  // until the thread has queued
          sem.release(1);
          goro::yield();
        }
        data = 1;
        sem.release(1);
        sem.acquire(2);  // after the thread's release
        main_saw = data;
        sem.release(2);
      },
      goro::config{.procs = procs});
  t.join();
  CHECK(thread_saw == 1);
  CHECK(main_saw == 2);
  CHECK(sem.try_acquire(2));
}

// A goroutine parked in acquire when main returns is unwound (goroutine_exit
// from acquire), queued or waiting on a context, and leaves no waiter behind:
// the run returns, and the semaphore works afterwards.
TEST_CASE("semaphore: goroutines parked in acquire are unwound when main returns", "[semaphore][shutdown]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> unwound{0}, progressed{0};
  goro::semaphore sem(2);  // test scope: outlives run
  goro::run(
      [&] {
        sem.acquire(1);
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        goro::go([&] {
          exit_guard g{&unwound};
          sem.acquire(2);  // queued
          ++progressed;
        });
        goro::go([&, ctx = ctx] {
          exit_guard g{&unwound};
          sem.acquire(ctx, 2);  // queued, with a context
          ++progressed;
        });
        goro::go([&, ctx = ctx] {
          exit_guard g{&unwound};
          sem.acquire(ctx, 3);  // larger than the size: waits for ctx only
          ++progressed;
        });
        goro::go([&] {
          exit_guard g{&unwound};
          sem.acquire(3);  // larger than the size, no context
          ++progressed;
        });
        wait_parked(4);
      },
      goro::config{.procs = procs});
  CHECK(unwound.load() == 4);
  CHECK(progressed.load() == 0);
  bool one_free = sem.try_acquire(1);  // main's unit is still held; none queued
  CHECK(one_free);
  sem.release(2);
  bool all_free = sem.try_acquire(2);
  CHECK(all_free);
}

// Inside blocking<> an acquire that would park throws std::logic_error and
// takes nothing; one that need not wait works.
TEST_CASE("semaphore: an acquire that would park inside blocking<> throws logic_error", "[semaphore][threaded]") {
  bool threw = false, free_ok = false, full_after = false;
  goro::run([&] {
    goro::semaphore sem(2);
    sem.acquire(1);
    {
      goro::blocking<> b;
      sem.acquire(1);
      free_ok = true;
      try {
        sem.acquire(1);
      } catch (const std::logic_error&) {
        threw = true;
      }
    }
    sem.release(2);
    full_after = sem.try_acquire(2);
  });
  CHECK(free_ok);
  CHECK(threw);
  CHECK(full_after);
}

// Stress: goroutines acquire random weights under contexts that other
// goroutines cancel, or that time out, at random moments, racing the grants
// of release. Units held never exceed the size, and afterwards no waiter is
// left: release/acquire of the full size works.
TEST_CASE("semaphore: cancellations racing grants leave no waiter behind", "[semaphore]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr std::int64_t size = 5;
  constexpr int workers = 12;
  const long loops = goro_test::scale(500);
  std::atomic<std::int64_t> in_use{0}, worst{0};
  std::atomic<long> acquired{0}, failed{0};
  bool full_after = false, acquire_after = false;
  goro::run(
      [&] {
        goro::semaphore sem(size);
        goro::wait_group wg;
        for (int i = 0; i < workers; ++i)
          wg.go([&, i] {
            std::uint32_t r = 0x1b873593u * static_cast<std::uint32_t>(i + 1);
            for (long k = 0; k < loops; ++k) {
              std::uint32_t how = next_rand(r) % 3;  // 0: a timeout, 1: a canceller goroutine, 2: never cancelled
              // Now and then size + 1 (it waits for its context), but only with one that ends.
              std::int64_t w = 1 + static_cast<std::int64_t>(next_rand(r) % (how == 2 ? size : size + 1));
              goro::cancel_handle h = how == 0 ? goro::with_timeout(goro::context(), std::chrono::microseconds(next_rand(r) % 200))
                                               : goro::with_cancel(goro::context());
              if (how == 1) {
                std::uint32_t delay = next_rand(r) % 4;
                goro::go([cancel = h.cancel, delay] {
                  for (std::uint32_t y = 0; y < delay; ++y) goro::yield();
                  cancel();
                });
              }
              try {
                sem.acquire(h.ctx, w);
              } catch (const goro::canceled_error&) {
                failed.fetch_add(1);
                continue;
              } catch (const goro::timeout_error&) {
                failed.fetch_add(1);
                continue;
              }
              std::int64_t now = in_use.fetch_add(w) + w;
              std::int64_t prev = worst.load();
              while (now > prev && !worst.compare_exchange_weak(prev, now)) {
              }
              acquired.fetch_add(1);
              if (next_rand(r) % 2 == 0) goro::yield();
              in_use.fetch_sub(w);
              sem.release(w);
              h.cancel();
            }
          });
        wg.wait();
        sem.acquire(size);
        acquire_after = true;
        sem.release(size);
        full_after = sem.try_acquire(size);
      },
      goro::config{.procs = procs});
  CHECK(worst.load() <= size);
  CHECK(acquired.load() + failed.load() == workers * loops);
  CHECK(acquired.load() > 0);
  CHECK(failed.load() > 0);
  CHECK(acquire_after);
  CHECK(full_after);
}
