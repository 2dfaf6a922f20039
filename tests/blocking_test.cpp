// goro::blocking<> and goro::block (docs/reference.md, "Blocking system
// calls"): Go's entersyscall / exitsyscall. While a goroutine blocks its thread
// in the kernel the others keep running (the P is handed to another M: lazily
// by sysmon for handoff_lazy, at once for handoff_now); many may block at once;
// a goro call that would park inside the guard throws std::logic_error and
// leaves everything usable; guards nest and do nothing on plain threads; a
// goroutine inside the guard is neither a deadlock nor abandoned at exit. Also
// sysmon's other job: a goroutine running over 10 ms is preempted at its next
// safe point (go(), a channel operation, select), so a CPU-bound loop that
// makes goro calls cannot starve a ticker-driven goroutine at procs=1.
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through channels,
// atomics or test-scope variables.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;

namespace {

using gclock = goro::clock;
using tp = gclock::time_point;

double ms(gclock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <class T>
bool recv_within(const goro::chan<T>& c, gclock::duration d, std::optional<T>* out = nullptr) {
  bool got = false;
  goro::select(goro::recv_case(c,
                               [&](std::optional<T> v) {
                                 got = true;
                                 if (out != nullptr) *out = std::move(v);
                               }),
               goro::recv_case(goro::after(d), [](auto) {}));
  return got;
}

// in_guard runs f inside the guard `how` names: "block" (goro::block(f)),
// "lazy" (blocking<>) or "now" (blocking<handoff_now>).
template <class F>
void in_guard(const std::string& how, F&& f) {
  if (how == "block") {
    goro::block(f);
  } else if (how == "lazy") {
    goro::blocking<> g;
    f();
  } else {
    goro::blocking<goro::handoff_now> g;
    f();
  }
}

// throws_logic_error: true if f() throws std::logic_error (and not a subclass
// that means something else, such as closed_channel).
template <class F>
bool throws_logic_error(F&& f) {
  try {
    f();
  } catch (const goro::closed_channel&) {
    return false;
  } catch (const std::logic_error&) {
    return true;
  }
  return false;
}

}  // namespace

// (1) At procs=1 a goroutine blocked in the kernel inside the guard does not
// hold up the others: 10,000 ping-pongs over unbuffered channels finish long
// before its 200 ms sleep ends. The ping-pong starts only once the blocker is
// inside the guard (it says so with a send on a buffered channel with room,
// which does not park and so is allowed there).
TEST_CASE("blocking: at procs=1 other goroutines run while one sleeps in the kernel", "[blocking]") {
  auto how = GENERATE(as<std::string>{}, "block", "lazy", "now");
  const long n = goro_test::scale(10'000);
  tp t0{}, enter{}, leave{}, pp_start{}, pp_end{};
  long pongs = 0;
  goro::run(
      [&] {
        goro::chan<int> entered(1), ping, pong, done(2);
        t0 = goro::now();
        goro::go([&, entered, done] {
          in_guard(how, [&] {
            entered.send(1);
            enter = goro::now();
            usleep(200'000);
            leave = goro::now();
          });
          done.send(0);
        });
        goro::go([ping, pong, n] {
          for (long i = 0; i < n; ++i) pong.send(*ping.recv() + 1);
        });
        goro::go([&, entered, ping, pong, done, n] {
          entered.recv();
          pp_start = goro::now();
          long sum = 0;
          for (long i = 0; i < n; ++i) {
            ping.send(1);
            sum += *pong.recv();
          }
          pp_end = goro::now();
          pongs = sum / 2;
          done.send(1);
        });
        done.recv();
        done.recv();
      },
      goro::config{.procs = 1});
  INFO(how << ": " << n << " ping-pongs ended " << ms(pp_end - t0) << " ms after start; the blocker slept from +" << ms(enter - t0)
           << " to +" << ms(leave - t0) << " ms");
  CHECK(pongs == n);
  CHECK(enter <= pp_start);
  CHECK(pp_end - t0 < 150ms);
  CHECK(leave > pp_end);  // the blocker really was still asleep in the kernel
  CHECK(leave - enter >= 200ms);
}

// (2) 2,000 goroutines each block their thread for 20 ms at once: all finish,
// far sooner than one after the other, and the runtime is usable afterwards
// (the Ms that blocked went back to the idle pool).
TEST_CASE("blocking: 2,000 concurrent blocking sleepers all finish and the runtime stays usable", "[blocking][stress]") {
  auto how = GENERATE(as<std::string>{}, "block", "now");
  auto procs = GENERATE(1u, 4u);
  const long n = goro_test::scale(2'000);
  std::atomic<long> finished{0}, short_sleeps{0};
  gclock::duration took{};
  long pongs = 0;
  bool slept = false;
  goro::run(
      [&] {
        goro::wait_group wg;
        auto t0 = goro::now();
        for (long i = 0; i < n; ++i)
          wg.go([&] {
            auto s = goro::now();
            in_guard(how, [] { usleep(20'000); });
            if (goro::now() - s < 20ms) short_sleeps.fetch_add(1);
            finished.fetch_add(1);
          });
        wg.wait();
        took = goro::now() - t0;
        // Still usable: goroutines, channels, timers.
        goro::chan<int> ping, pong;
        goro::go([ping, pong] {
          for (int i = 0; i < 1000; ++i) pong.send(*ping.recv());
        });
        for (int i = 0; i < 1000; ++i) {
          ping.send(i);
          if (pong.recv() == i) ++pongs;
        }
        auto s = goro::now();
        goro::sleep_for(5ms);
        slept = goro::now() - s >= 5ms;
      },
      goro::config{.procs = procs});
  INFO(how << ", procs " << procs << ": " << n << " blocking sleepers took " << ms(took) << " ms");
  CHECK(finished.load() == n);
  CHECK(short_sleeps.load() == 0);
  CHECK(took < n * 20ms / 4);  // at least 4 at a time (serially: n * 20 ms)
  CHECK(pongs == 1000);
  CHECK(slept);
}

// (3) A goro call that would park inside the guard throws std::logic_error,
// before it changes anything; after the guard the same objects work normally.
// Calls that do not park are fine inside the guard.
TEST_CASE("blocking: a goro call that would park inside the guard throws std::logic_error", "[blocking][misuse]") {
  auto how = GENERATE(as<std::string>{}, "block", "lazy", "now");
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::string> failures;
  goro::run(
      [&] {
        auto expect_throw = [&](const char* what, auto f) {
          bool threw = false;
          in_guard(how, [&] { threw = throws_logic_error(f); });
          if (!threw) failures.push_back(std::string(what) + ": did not throw std::logic_error");
        };
        auto expect = [&](bool ok, const char* what) {
          if (!ok) failures.push_back(what);
        };

        // Channel receive on an empty channel, then a normal receive.
        goro::chan<int> c;
        expect_throw("recv on an empty unbuffered channel", [&] { c.recv(); });
        goro::chan<int> b(1);
        expect_throw("recv on an empty buffered channel", [&] { b.recv(); });
        expect_throw("send on an unbuffered channel with no receiver", [&] { c.send(1); });
        b.send(1);
        expect_throw("send on a full buffered channel", [&] { b.send(2); });
        expect(b.size() == 1 && *b.recv() == 1, "the full channel kept exactly its one value");
        expect_throw("select without default and nothing ready", [&] {
          goro::select(goro::recv_case(c, [](auto) {}), goro::recv_case(b, [](auto) {}));
        });
        expect_throw("recv on a nil channel", [&] { goro::chan<int>(nullptr).recv(); });
        goro::go([c] { c.send(42); });
        expect(c.recv() == 42, "recv after the guard gets the value");
        goro::go([c] { c.recv(); });
        c.send(7);  // a receiver took it: the failed send left nothing behind

        // sleep_for, after, timer.
        expect_throw("sleep_for(1ms)", [] { goro::sleep_for(1ms); });
        expect_throw("sleep_until a future time", [] { goro::sleep_until(goro::now() + 1ms); });
        expect_throw("recv on after(1ms)", [] { goro::after(1ms).recv(); });
        goro::timer t(1h);
        expect_throw("recv on a pending timer", [&] { t.c().recv(); });
        auto s = goro::now();
        goro::sleep_for(2ms);
        expect(goro::now() - s >= 2ms, "sleep_for after the guard sleeps");
        t.reset(1ms);
        expect(t.c().recv().has_value(), "the timer fires after the guard");

        // A contended mutex; then lock it normally.
        goro::mutex mu;
        goro::chan<int> held, release, released;
        goro::go([&mu, held, release, released] {
          mu.lock();
          held.send(1);
          release.recv();
          mu.unlock();
          released.send(1);
        });
        held.recv();
        expect_throw("lock of a contended mutex", [&] { mu.lock(); });
        release.send(1);
        released.recv();
        mu.lock();
        mu.unlock();

        // wait_group::wait with a nonzero count; then wait normally.
        goro::wait_group wg;
        wg.add(1);
        expect_throw("wait_group::wait with count 1", [&] { wg.wait(); });
        goro::go([&wg] { wg.done(); });
        wg.wait();

        // condition_variable::wait and wait_for.
        goro::condition_variable cv;
        {
          std::unique_lock lk(mu);
          expect_throw("condition_variable::wait", [&] { cv.wait(lk); });
          expect(lk.owns_lock(), "wait re-locked the mutex before throwing");
          expect_throw("condition_variable::wait_for", [&] { cv.wait_for(lk, 1h); });
          expect(lk.owns_lock(), "wait_for re-locked the mutex before throwing");
        }

        // Calls that do not park are allowed inside the guard.
        goro::chan<int> spawned(1);
        in_guard(how, [&] {
          goro::chan<int> e(2);
          expect(e.try_send(1) && !goro::chan<int>().try_recv(), "try_send / try_recv");
          e.send(2);                                     // room: no park
          expect(e.recv() == 1 && e.recv() == 2, "recv of ready values");
          expect(goro::select(goro::recv_case(e, [](auto) {}), goro::default_case([] {})) == 1, "select with default");
          expect(mu.try_lock(), "try_lock of a free mutex");
          mu.unlock();
          mu.lock();                                     // uncontended: no park
          mu.unlock();
          goro::wait_group zero;
          zero.wait();                                   // count 0: no park
          goro::sleep_for(0ns);
          goro::sleep_for(-1ms);
          cv.notify_one();
          cv.notify_all();
          goro::yield();                                 // yields the thread
          goro::go([spawned] { spawned.send(5); });      // queued globally
        });
        expect(spawned.recv() == 5, "a goroutine started inside the guard runs");
      },
      goro::config{.procs = procs});
  INFO(how << ", procs " << procs << ": " << (failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
}

// Guards nest (only the outermost one hands the P off and takes it back);
// block() returns f's result and lets f's exceptions through, leaving the
// goroutine out of the guard.
TEST_CASE("blocking: guards nest, and block() returns results and propagates exceptions", "[blocking]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool inner_throws = false, between_throws = false, after_ok = false, block_nested_throws = false;
  int result = 0;
  bool exception_passed = false, usable_after_exception = false;
  goro::run(
      [&] {
        goro::chan<int> c(1);
        {
          goro::blocking<> outer;
          {
            goro::blocking<goro::handoff_now> inner;
            usleep(1000);
            inner_throws = throws_logic_error([&] { c.recv(); });
          }
          between_throws = throws_logic_error([&] { c.recv(); });  // still inside the outer guard
          block_nested_throws = goro::block([&] { return goro::block([&] { return throws_logic_error([] { goro::sleep_for(1ms); }); }); });
        }
        c.send(3);
        after_ok = c.recv() == 3;
        result = goro::block([] {
          usleep(1000);
          return 41;
        }) + 1;
        try {
          goro::block([]() -> int { throw std::runtime_error("from inside block"); });
        } catch (const std::runtime_error& e) {
          exception_passed = std::string(e.what()) == "from inside block";
        }
        goro::chan<int> d;
        goro::go([d] { d.send(9); });
        auto s = goro::now();
        goro::sleep_for(1ms);
        usable_after_exception = d.recv() == 9 && goro::now() - s >= 1ms;
      },
      goro::config{.procs = procs});
  CHECK(inner_throws);
  CHECK(between_throws);
  CHECK(block_nested_throws);
  CHECK(after_ok);
  CHECK(result == 42);
  CHECK(exception_passed);
  CHECK(usable_after_exception);
}

// On a plain OS thread the guard does nothing: nothing throws there, and goro
// calls inside it block the thread as they would without it.
TEST_CASE("blocking: a guard on a plain std::thread does nothing harmful", "[blocking][thread]") {
  // Outside any run().
  int r = 0;
  bool slept = false;
  std::thread th([&] {
    goro::blocking<> g;
    goro::blocking<goro::handoff_now> g2;
    usleep(1000);
    r = goro::block([] { return 42; });
    auto s = goro::now();
    goro::sleep_for(2ms);  // a plain thread just sleeps
    slept = goro::now() - s >= 2ms;
  });
  th.join();
  CHECK(r == 42);
  CHECK(slept);

  // Inside a run(): a plain thread in a guard receives from and sends to the
  // main goroutine, blocking as a plain thread does. (A plain thread counts
  // for the deadlock check only while inside a goro call, so a sleeping
  // goroutine keeps run() from reporting one before the thread gets there.)
  int got = 0;
  std::optional<int> back;
  bool threw = true;
  goro::run([&] {
    goro::chan<int> c, d;
    std::atomic<bool> finished{false};
    goro::wait_group keeper;
    keeper.go([&finished] {
      while (!finished.load()) goro::sleep_for(200us);
    });
    std::thread t([&, c, d] {
      goro::blocking<> g;
      try {
        got = c.recv().value_or(-1);
        d.send(8);
        threw = false;
      } catch (...) {
      }
    });
    c.send(7);
    back = d.recv();
    goro::block([&] { t.join(); });
    finished = true;
    keeper.wait();
  });
  CHECK_FALSE(threw);
  CHECK(got == 7);
  CHECK(back == 8);
}

// (4) Preemption: at procs=1 a CPU-bound goroutine that never blocks but makes
// a goro call each iteration is preempted at those calls (sysmon marks it
// after 10 ms), so a goroutine counting ticker ticks gets to run. The CPU
// loop runs until 5 ticks have been counted: without preemption it would spin
// until its 10 s safety cap, which fails the test.
TEST_CASE("blocking: sysmon preempts a CPU-bound goroutine at its goro calls (procs=1)", "[blocking][preempt]") {
  auto op = GENERATE(as<std::string>{}, "try_recv", "select with default", "try_send on a full channel");
  bool capped = true;
  long iterations = 0;
  gclock::duration fifth_tick{};
  goro::run(
      [&] {
        std::atomic<int> ticks{0};
        goro::chan<int> done(2);
        auto start = goro::now();
        goro::go([&ticks, done, start, &fifth_tick] {
          goro::ticker t(5ms);
          for (int i = 0; i < 5; ++i) {
            t.c().recv();
            ticks.fetch_add(1);
          }
          fifth_tick = goro::now() - start;
          done.send(1);
        });
        goro::go([&, done, start] {
          goro::chan<int> empty(1), full(1);
          full.send(0);
          long it = 0;
          bool hit_cap = false;
          while (ticks.load() < 5) {
            if (op == "try_recv") {
              (void)empty.try_recv();
            } else if (op == "select with default") {
              goro::select(goro::recv_case(empty, [](auto) {}), goro::default_case([] {}));
            } else {
              (void)full.try_send(1);
            }
            if (++it % 1024 == 0 && goro::now() - start > 10s) {
              hit_cap = true;
              break;
            }
          }
          iterations = it;
          capped = hit_cap;
          done.send(2);
        });
        done.recv();
        done.recv();
      },
      goro::config{.procs = 1});
  INFO(op << ": 5 ticks after " << ms(fifth_tick) << " ms, CPU loop ran " << iterations << " iterations");
  CHECK_FALSE(capped);
  CHECK(fifth_tick < 3s);
}

// Preemption also makes two CPU-bound goroutines take turns at procs=1: each
// spins until it has seen the other make progress.
TEST_CASE("blocking: two CPU-bound goroutines take turns at procs=1", "[blocking][preempt]") {
  bool capped = true;
  goro::run(
      [&] {
        std::atomic<long> a{0}, b{0};
        std::atomic<bool> cap_hit{false};
        goro::chan<int> done(2);
        auto start = goro::now();
        std::atomic<int> satisfied{0};
        // Each spins until both have seen the other make progress three times
        // while they themselves were running.
        auto spin = [&, done, start](std::atomic<long>& mine, std::atomic<long>& other) {
          goro::chan<int> empty(1);
          long seen = other.load();
          int switches = 0;
          while (satisfied.load() < 2) {
            mine.fetch_add(1);
            (void)empty.try_recv();
            long o = other.load();
            if (o != seen) {
              seen = o;
              if (++switches == 3) satisfied.fetch_add(1);
            }
            if (mine.load() % 1024 == 0 && goro::now() - start > 10s) {
              cap_hit = true;
              break;
            }
          }
          done.send(1);
        };
        goro::go([&] { spin(a, b); });
        goro::go([&] { spin(b, a); });
        done.recv();
        done.recv();
        capped = cap_hit.load();
      },
      goro::config{.procs = 1});
  CHECK_FALSE(capped);
}

// (5) A goroutine inside blocking<> is not deadlocked: while it sleeps in the
// kernel and every other goroutine is parked, run() does not report a
// deadlock; when main returns meanwhile, run() waits for it, it finishes its
// call normally, and it is unwound at its next park as any other goroutine.
TEST_CASE("blocking: a goroutine inside the guard is neither a deadlock nor abandoned when main returns", "[blocking][exit]") {
  auto how = GENERATE(as<std::string>{}, "block", "lazy", "now");
  auto procs = GENERATE(1u, 2u);

  // Main waits on a channel only the blocked goroutine will send on.
  int got = 0;
  REQUIRE_NOTHROW(goro::run(
      [&] {
        goro::chan<int> c;
        goro::go([&how, c] {
          in_guard(how, [] { usleep(100'000); });
          c.send(5);
        });
        got = c.recv().value_or(-1);
      },
      goro::config{.procs = procs}));
  CHECK(got == 5);

  // Main returns while the goroutine is in the kernel.
  std::atomic<bool> returned_from_call{false}, unwound{false}, entered{false};
  auto t0 = gclock::now();
  goro::run(
      [&] {
        goro::chan<int> in(1);
        goro::go([&, in] {
          in_guard(how, [&] {
            in.send(1);
            entered = true;
            usleep(150'000);
          });
          returned_from_call = true;
          try {
            goro::sleep_for(1h);  // main has returned: unwound here
          } catch (...) {
            unwound = true;
            throw;
          }
        });
        in.recv();
      },
      goro::config{.procs = procs});
  auto took = gclock::now() - t0;
  INFO(how << ": run() returned after " << ms(took) << " ms");
  CHECK(entered.load());
  CHECK(returned_from_call.load());
  CHECK(unwound.load());
  CHECK(took >= 150ms);
  CHECK(took < 5s);
}

// ---------------------------------------------------------------------------
// Bugs found while writing these tests (all fixed: [regression]).

// Regression: wait_group::wait registered itself as a waiter (state + 1)
// before semacquire's throw_if_blocking threw. The phantom waiter was released
// by the next done() that reached 0, leaving a stale semaphore token, and the
// next wait() on the reused group returned at once, before the counter was 0.
// Fixed: the sync types check parking_forbidden() before any state change.
TEST_CASE("blocking: a wait_group whose wait() threw inside the guard still waits after reuse", "[blocking][misuse][regression]") {
  bool threw = false, finished_first = false;
  goro::run(
      [&] {
        goro::wait_group wg;
        wg.add(1);
        {
          goro::blocking<> g;
          threw = throws_logic_error([&] { wg.wait(); });
        }
        wg.done();
        wg.add(1);  // reuse
        std::atomic<bool> finished{false};
        goro::chan<int> release, waited(1);
        goro::go([&, release] {
          release.recv();
          finished = true;
          wg.done();
        });
        goro::go([&, waited] {
          wg.wait();
          waited.send(finished.load() ? 1 : 0);
        });
        goro::sleep_for(20ms);  // lets the waiter reach wait(): not needed for correctness
        release.send(1);
        finished_first = waited.recv() == 1;
      },
      goro::config{.procs = 1});
  CHECK(threw);
  CHECK(finished_first);  // fails: wait() returned before the done()
}

// Regression: shared_mutex::lock() announced the writer (w_ held,
// reader_count lowered) before semacquire threw inside the guard, and
// lock_shared() counted itself as a reader before it threw: either way the
// rwmutex was left locked for good (the next lock() would hang).
TEST_CASE("blocking: a shared_mutex whose lock or lock_shared threw inside the guard is not left locked", "[blocking][misuse][regression]") {
  bool threw_w = false, threw_r = false, free_after_w = false, free_after_r = false;
  goro::run(
      [&] {
        goro::shared_mutex a;
        a.lock_shared();
        {
          goro::blocking<> g;
          threw_w = throws_logic_error([&] { a.lock(); });  // a reader is in: lock() would park
        }
        a.unlock_shared();
        free_after_w = a.try_lock();  // nobody holds it now
        if (free_after_w) a.unlock();

        goro::shared_mutex b;
        b.lock();
        {
          goro::blocking<> g;
          threw_r = throws_logic_error([&] { b.lock_shared(); });  // a writer is in
        }
        b.unlock();
        free_after_r = b.try_lock();
        if (free_after_r) b.unlock();
      },
      goro::config{.procs = 1});
  CHECK(threw_w);
  CHECK(threw_r);
  CHECK(free_after_w);
  CHECK(free_after_r);
}

// Regression: condition_variable::wait / wait_for took a notify ticket and
// unlocked the mutex before the list's throw_if_blocking threw inside the
// guard. The orphaned ticket then absorbed the next notify_one, so a goroutine
// really waiting afterwards was not woken. Fixed: the check comes first.
TEST_CASE("blocking: a condition_variable whose wait threw inside the guard loses no notify", "[blocking][misuse][regression]") {
  auto which = GENERATE(as<std::string>{}, "wait", "wait_for");
  bool threw = false, held = false, woken = false;
  goro::run(
      [&] {
        goro::mutex mu;
        goro::condition_variable cv;
        {
          std::unique_lock lk(mu);
          goro::blocking<> g;
          threw = throws_logic_error([&] {
            if (which == "wait") cv.wait(lk);
            else cv.wait_for(lk, 1h);
          });
          held = lk.owns_lock();
        }
        bool flag = false;
        goro::chan<int> waiting(1), done(1);
        goro::go([&, waiting, done] {
          std::unique_lock lk(mu);
          waiting.send(1);
          cv.wait(lk, [&] { return flag; });
          done.send(1);
        });
        waiting.recv();
        {
          std::lock_guard g(mu);  // acquired once the waiter is in wait()
          flag = true;
        }
        cv.notify_one();
        woken = recv_within(done, 1s);
        if (!woken) {
          cv.notify_all();
          done.recv();
        }
      },
      goro::config{.procs = 1});
  INFO(which);
  CHECK(threw);
  CHECK(held);
  CHECK(woken);
}

// sysmon backs off to 10 ms rounds when the runtime is idle, and retakes a P
// from an M blocked in blocking<handoff_lazy> only on its second look; a lazy
// blocking call therefore wakes sysmon from a long sleep (sysmon_kick), so
// the P goes to another M within a few short rounds, not 10-20 ms later. At
// procs=1, after 30 ms of idling each round: the median time from the
// blocker entering the kernel to main running again.
TEST_CASE("blocking: after idling, a lazy blocking call's P is retaken within milliseconds", "[blocking][sysmon]") {
  std::vector<double> lat_ms;
  goro::run(
      [&] {
        for (int r = 0; r < 9; ++r) {
          goro::sleep_for(30ms);  // idle: sysmon backs off
          std::atomic<std::int64_t> entered{0};
          goro::chan<int> done(1);
          goro::go([&entered, done] {
            {
              goro::blocking<> g;
              entered = std::chrono::duration_cast<std::chrono::nanoseconds>(gclock::now().time_since_epoch()).count();
              usleep(30'000);
            }
            done.send(1);
          });
          goro::yield();  // the blocker runs now and blocks; main runs again once the P is retaken
          auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(gclock::now().time_since_epoch()).count();
          lat_ms.push_back((now_ns - entered.load()) / 1e6);
          done.recv();
        }
      },
      goro::config{.procs = 1});
  std::sort(lat_ms.begin(), lat_ms.end());
  INFO("median " << lat_ms[lat_ms.size() / 2] << " ms, max " << lat_ms.back() << " ms");
  CHECK(lat_ms[lat_ms.size() / 2] < 8.0);
}
