// goro::wait_group (Go's sync.WaitGroup, on the runtime semaphore): ports of
// Go's sync/waitgroup_test.go, misuse, plain OS threads, many waiters, reuse,
// and the memory model (writes before done() are visible after wait(); the
// TSan build checks this on plain, non-atomic data).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "goro.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {
constexpr auto relaxed = std::memory_order_relaxed;

// Plain OS threads are invisible to run()'s deadlock check between goro calls
// (docs/reference.md, "Runtime": it counts only threads inside a goro call), so
// while goroutines wait for a plain thread that may not have reached its done()
// yet, run() could report a deadlock. keep_alive_until spawns a goroutine that
// sleeps in a loop (a pending timer) until `finished` reaches `n`; call it in a
// goroutine, and wait on the returned group before leaving.
void keep_alive_until(std::atomic<int>& finished, int n, goro::wait_group& keeper) {
  keeper.add(1);
  goro::go([&finished, n, &keeper] {
    while (finished.load() < n) goro::sleep_for(200us);
    keeper.done();
  });
}
}  // namespace

// Go: testWaitGroup / TestWaitGroup. n goroutines done() wg1 then wait on wg2,
// which the test counts down one by one: none may be released early. The same
// two groups are used 8 times (the barrier must be reusable).
TEST_CASE("sync: wait_group releases waiters only when the counter reaches zero (Go TestWaitGroup)", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int n = 16;
  std::atomic<int> released_too_soon{0}, all_exited_ok{0};
  goro::run(
      [&] {
        goro::wait_group wg1, wg2;
        for (int round = 0; round != 8; ++round) {
          std::atomic<int> exited{0};
          goro::wait_group exit_wg;
          wg1.add(n);
          wg2.add(n);
          exit_wg.add(n);
          for (int i = 0; i != n; ++i)
            goro::go([&] {
              wg1.done();
              wg2.wait();
              exited.fetch_add(1);
              exit_wg.done();
            });
          wg1.wait();
          for (int i = 0; i != n; ++i) {
            // Give an early-released waiter every chance to show up.
            for (int k = 0; k < 3; ++k) goro::yield();
            if (exited.load() != 0) released_too_soon.fetch_add(1);
            wg2.done();
          }
          exit_wg.wait();  // blocks (and ctest times out) if someone is never released
          if (exited.load() == n) all_exited_ok.fetch_add(1);
        }
      },
      goro::config{.procs = procs});
  CHECK(released_too_soon.load() == 0);
  CHECK(all_exited_ok.load() == 8);
}

// Go: TestWaitGroupMisuse (a negative counter panics); here it throws
// std::logic_error, changes nothing, and everything keeps working.
TEST_CASE("sync: wait_group misuse throws logic_error and changes nothing", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool done_on_zero = false, add_neg_on_zero = false, add_neg_on_three = false, fourth_done = false;
  bool wait_returned = false, not_logic = false;
  std::atomic<int> ran{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        try {
          wg.done();
        } catch (const std::logic_error&) {
          done_on_zero = true;
        }
        try {
          wg.add(-5);
        } catch (const std::logic_error&) {
          add_neg_on_zero = true;
        }
        wg.wait();  // still zero: returns at once
        // Go's TestWaitGroupMisuse: Add(1), Done(), Done().
        wg.add(1);
        wg.done();
        try {
          wg.done();
          not_logic = true;
        } catch (const std::logic_error&) {
        }
        // add(-5) on 3 throws and leaves 3.
        wg.add(3);
        try {
          wg.add(-5);
        } catch (const std::logic_error&) {
          add_neg_on_three = true;
        }
        for (int i = 0; i < 3; ++i)
          goro::go([&] {
            ran.fetch_add(1);
            wg.done();
          });
        wg.wait();
        try {
          wg.done();
        } catch (const std::logic_error&) {
          fourth_done = true;
        }
        wg.wait();
        wait_returned = true;
        // And a goroutine's misuse does not break anything either.
        goro::wait_group w2, w3;
        w3.add(1);
        goro::go([&] {
          try {
            w2.done();
          } catch (const std::logic_error&) {
            ran.fetch_add(10);
          }
          w3.done();
        });
        w3.wait();
      },
      goro::config{.procs = procs});
  CHECK(done_on_zero);
  CHECK(add_neg_on_zero);
  CHECK_FALSE(not_logic);
  CHECK(add_neg_on_three);
  CHECK(ran.load() == 13);
  CHECK(fourth_done);
  CHECK(wait_returned);
}

// Go: TestWaitGroupRace. Two goroutines increment and done(); after wait()
// both increments are seen (no spurious wake-up).
TEST_CASE("sync: wait_group has no spurious wake-ups (Go TestWaitGroupRace)", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long iters = goro_test::scale(5000);
  std::atomic<long> spurious{0};
  goro::run(
      [&] {
        for (long i = 0; i < iters; ++i) {
          goro::wait_group wg;
          std::atomic<int> n{0};
          wg.add(1);
          goro::go([&] {
            n.fetch_add(1);
            wg.done();
          });
          wg.add(1);
          goro::go([&] {
            n.fetch_add(1);
            wg.done();
          });
          wg.wait();
          if (n.load() != 2) spurious.fetch_add(1);
        }
      },
      goro::config{.procs = procs});
  CHECK(spurious.load() == 0);
}

TEST_CASE("sync: wait_group stress with many adders and doners and waiters", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long rounds = goro_test::scale(200);
  constexpr int workers = 16, waiters = 8;
  std::atomic<long> bad{0}, waits_done{0};
  goro::run(
      [&] {
        for (long r = 0; r < rounds; ++r) {
          goro::wait_group wg, waiters_wg;
          std::atomic<int> work{0};
          wg.add(workers);
          waiters_wg.add(waiters);
          for (int w = 0; w < waiters; ++w)
            goro::go([&] {
              wg.wait();
              if (work.load() != workers * 3) bad.fetch_add(1);
              waits_done.fetch_add(1, relaxed);
              waiters_wg.done();
            });
          for (int i = 0; i < workers; ++i)
            goro::go([&] {
              // Nested add before done: the counter never touches zero early.
              wg.add(2);
              for (int k = 0; k < 2; ++k)
                goro::go([&] {
                  goro::yield();
                  work.fetch_add(1);
                  wg.done();
                });
              work.fetch_add(1);
              wg.done();
            });
          wg.wait();
          if (work.load() != workers * 3) bad.fetch_add(1);
          waiters_wg.wait();
        }
      },
      goro::config{.procs = procs});
  CHECK(bad.load() == 0);
  CHECK(waits_done.load() == rounds * waiters);
}

// Go 1.25: TestWaitGroupGo. wg.go runs f (with its arguments) and done()s.
TEST_CASE("sync: wait_group::go runs f with its arguments and done()s after it", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int plain_i = 0;  // not atomic: wait() after done() publishes it
  std::atomic<int> sum{0}, moved{0};
  std::string copied;
  int after_wait = -1;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.go([&] { ++plain_i; });
        wg.wait();
        after_wait = plain_i;

        std::string s = "copy me";
        wg.go([&](int a, int b) { sum.fetch_add(a + b); }, 20, 22);
        wg.go([&](std::unique_ptr<int> p) { moved.store(*p); }, std::make_unique<int>(9));
        wg.go([&](const std::string& arg) { copied = arg; }, s);
        s = "changed";
        wg.go([&](int a, int b, int c) { sum.fetch_add(a + b + c); }, 1, 2, 3);
        wg.go([counter = 0, &sum]() mutable {
          ++counter;
          sum.fetch_add(counter * 1000);
        });
        const int n = 1000;
        for (int i = 0; i < n; ++i) wg.go([&] { sum.fetch_add(1'000'000); });
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(after_wait == 1);
  CHECK(sum.load() == 42 + 6 + 1000 + 1000 * 1'000'000);
  CHECK(moved.load() == 9);
  CHECK(copied == "copy me");
}

// C++ on top of Go: like std::thread's end before join() returns, the
// goroutine's copies of f and args are destroyed before the done() that
// releases wait(). The flags are plain bools: TSan checks the edge.
TEST_CASE("sync: wait_group::go destroys the goroutine's callable and arguments before wait() returns", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool fn_destroyed = false, arg_destroyed = false, fn_seen = false, arg_seen = false;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.go([d = goro_test::slow_dtor(&fn_destroyed)](const goro_test::slow_dtor&) {}, goro_test::slow_dtor(&arg_destroyed));
        wg.wait();
        fn_seen = fn_destroyed;
        arg_seen = arg_destroyed;
      },
      goro::config{.procs = procs});
  CHECK(fn_seen);
  CHECK(arg_seen);
}

TEST_CASE("sync: wait_group::wait on a plain thread while goroutines done() it", "[sync][wait_group][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int n = 500;
  std::atomic<int> work{0}, inner_work{0};
  int thread_saw = -1, thread_saw_inside = -1;
  std::vector<int> data(n, 0);  // plain data: published by done() -> wait()
  long thread_sum = -1;

  // A thread started before run(), waiting on a group that goroutines of the
  // run complete.
  goro::wait_group wg;
  wg.add(n);
  std::thread outside([&] {
    wg.wait();
    thread_saw = work.load();
    long s = 0;
    for (int v : data) s += v;
    thread_sum = s;
  });
  goro::run(
      [&] {
        for (int i = 0; i < n; ++i)
          goro::go([&, i] {
            data[static_cast<std::size_t>(i)] = i + 1;
            work.fetch_add(1);
            wg.done();
          });
        // A thread started inside: waits, then done()s a group main waits on
        // (so main parks as a goroutine; it never blocks its M in join()).
        goro::wait_group inner, thread_finished, keeper;
        std::atomic<int> thread_out{0};
        inner.add(n);
        thread_finished.add(1);
        keep_alive_until(thread_out, 1, keeper);
        std::thread inside([&] {
          inner.wait();
          thread_saw_inside = inner_work.load();
          thread_finished.done();
          thread_out.store(1);  // its last goro call has returned
        });
        for (int i = 0; i < n; ++i)
          goro::go([&] {
            goro::yield();
            inner_work.fetch_add(1);
            inner.done();
          });
        thread_finished.wait();
        keeper.wait();
        inside.join();  // it has returned from its last goro call
      },
      goro::config{.procs = procs});
  outside.join();
  CHECK(thread_saw == n);
  CHECK(thread_saw_inside == n);
  CHECK(thread_sum == static_cast<long>(n) * (n + 1) / 2);
}

TEST_CASE("sync: wait_group done() from plain threads releases waiting goroutines", "[sync][wait_group][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int threads = 4, waiters = 50;
  std::atomic<int> released{0}, bad{0};
  std::vector<int> data(threads, 0);
  goro::wait_group wg;
  wg.add(threads);
  goro::run(
      [&] {
        goro::wait_group started, finished;
        started.add(waiters);
        finished.add(waiters);
        for (int i = 0; i < waiters; ++i)
          goro::go([&] {
            started.done();
            wg.wait();
            for (int t = 0; t < threads; ++t)
              if (data[static_cast<std::size_t>(t)] != t + 1) bad.fetch_add(1);
            released.fetch_add(1);
            finished.done();
          });
        started.wait();
        std::atomic<int> threads_out{0};
        goro::wait_group keeper;
        keep_alive_until(threads_out, threads, keeper);
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t)
          ts.emplace_back([&, t] {
            data[static_cast<std::size_t>(t)] = t + 1;
            wg.done();
            threads_out.fetch_add(1);
          });
        finished.wait();
        keeper.wait();
        for (auto& t : ts) t.join();  // all have returned from done()
      },
      goro::config{.procs = procs});
  CHECK(released.load() == waiters);
  CHECK(bad.load() == 0);
}

TEST_CASE("sync: many waiters are released at once", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long n = goro_test::scale(10'000);
  constexpr int thread_waiters = 4;
  std::atomic<long> released{0}, early{0};
  std::atomic<int> threads_released{0};
  goro::run(
      [&] {
        goro::wait_group gate, started, finished;
        std::atomic<bool> opened{false};
        gate.add(1);
        started.add(n);
        finished.add(n + thread_waiters);
        for (long i = 0; i < n; ++i)
          goro::go([&] {
            started.done();
            gate.wait();
            if (!opened.load()) early.fetch_add(1);
            released.fetch_add(1, relaxed);
            finished.done();
          });
        std::atomic<int> threads_out{0};
        goro::wait_group keeper;
        keep_alive_until(threads_out, thread_waiters, keeper);
        std::vector<std::thread> ts;
        for (int t = 0; t < thread_waiters; ++t)
          ts.emplace_back([&] {
            gate.wait();
            if (!opened.load()) early.fetch_add(1);
            threads_released.fetch_add(1);
            finished.done();
            threads_out.fetch_add(1);
          });
        started.wait();
        for (int k = 0; k < 10; ++k) goro::yield();
        opened.store(true);
        gate.done();
        finished.wait();
        keeper.wait();
        for (auto& t : ts) t.join();
      },
      goro::config{.procs = procs});
  CHECK(early.load() == 0);
  CHECK(released.load() == n);
  CHECK(threads_released.load() == thread_waiters);
}

TEST_CASE("sync: a wait_group is reusable once its counter is back to zero", "[sync][wait_group]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int rounds = 200, n = 8, waiters = 3;
  std::atomic<int> bad{0}, ok_rounds{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        for (int r = 0; r < rounds; ++r) {
          std::atomic<int> work{0};
          goro::wait_group waiters_done;
          wg.add(n);
          waiters_done.add(waiters);
          for (int w = 0; w < waiters; ++w)
            goro::go([&] {
              wg.wait();
              if (work.load() != n) bad.fetch_add(1);
              waiters_done.done();
            });
          for (int i = 0; i < n; ++i)
            goro::go([&, i] {
              if (i % 2 == 0) goro::yield();
              work.fetch_add(1);
              wg.done();
            });
          wg.wait();
          if (work.load() == n) ok_rounds.fetch_add(1);
          waiters_done.wait();  // every waiter of this round has returned before the next add
        }
      },
      goro::config{.procs = procs});
  CHECK(bad.load() == 0);
  CHECK(ok_rounds.load() == rounds);
}

TEST_CASE("sync: wait on a zero counter returns without parking", "[sync][wait_group][threaded]") {
  // procs = 1: had wait() parked or yielded, the other goroutine would run.
  bool other_ran_early = true;
  goro::run(
      [&] {
        std::atomic<bool> other{false};
        goro::wait_group done_wg;
        done_wg.add(1);
        goro::go([&] {
          other = true;
          done_wg.done();
        });
        goro::wait_group zero;
        zero.wait();
        zero.add(2);
        zero.done();
        zero.done();
        zero.wait();
        other_ran_early = other.load();
        done_wg.wait();
      },
      goro::config{.procs = 1});
  CHECK_FALSE(other_ran_early);
}

// Go's memory model for WaitGroup: done() happens before the wait() it
// unblocks returns. Plain (non-atomic) data; the TSan build reports a race if
// the runtime does not give this edge.
TEST_CASE("sync: writes before done() are visible after wait() returns", "[sync][wait_group][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int n = 64;
  struct record {
    int value = 0;
    std::string text;
    std::vector<int> items;
  };
  std::vector<record> results(n);
  long chain_result = 0;
  int bad = 0;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(n);
        for (int i = 0; i < n; ++i)
          goro::go([&, i] {
            if (i % 3 == 0) goro::yield();
            if (i % 5 == 0) goro::sleep_for(50us);
            record& r = results[static_cast<std::size_t>(i)];
            r.value = i * i;
            r.text = "goroutine " + std::to_string(i);
            r.items.assign(static_cast<std::size_t>(i % 7), i);
            wg.done();
          });
        wg.wait();
        for (int i = 0; i < n; ++i) {
          const record& r = results[static_cast<std::size_t>(i)];
          if (r.value != i * i || r.text != "goroutine " + std::to_string(i) ||
              r.items != std::vector<int>(static_cast<std::size_t>(i % 7), i))
            ++bad;
        }
        // A chain: each goroutine waits for the previous one's group, then
        // writes the shared plain counter and completes its own group.
        constexpr int links = 32;
        std::vector<std::unique_ptr<goro::wait_group>> groups;
        for (int i = 0; i <= links; ++i) {
          groups.push_back(std::make_unique<goro::wait_group>());
          groups.back()->add(1);
        }
        long shared = 0;
        for (int i = 0; i < links; ++i)
          goro::go([&, i] {
            groups[static_cast<std::size_t>(i)]->wait();
            shared += i + 1;
            groups[static_cast<std::size_t>(i) + 1]->done();
          });
        shared = 1000;
        groups[0]->done();
        groups[links]->wait();
        chain_result = shared;
      },
      goro::config{.procs = procs});
  CHECK(bad == 0);
  CHECK(chain_result == 1000 + 32 * 33 / 2);
}
