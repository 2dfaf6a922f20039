// goro::errgroup (Go's golang.org/x/sync/errgroup): ports of errgroup_test.go
// (TestZeroGroup, TestWithContext, TestTryGo, TestGoLimit, TestCancelCause),
// plus what C++ and goro add: exceptions as the errors (a group goroutine's
// exception never ends the process), goroutine_exit left alone at shutdown,
// set_limit's misuse, the creation site in dumps, a plain thread's wait, and
// the happens-before edges (sim::shared: the deterministic runs check them,
// the TSan build checks the plain data).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "goro.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

// tagged_error: an error with an identity, as Go's tests compare error values.
struct tagged_error : std::runtime_error {
  explicit tagged_error(int i) : std::runtime_error("errgroup_test: " + std::to_string(i)), id(i) {}
  int id;
};

// wait_error: what g.wait() throws: 0 if nothing, the tagged_error's id, or -1
// for anything else.
int wait_error(goro::errgroup& g) {
  try {
    g.wait();
  } catch (const tagged_error& e) {
    return e.id;
  } catch (...) {
    return -1;
  }
  return 0;
}

// closed: is ctx.done() closed now? (Go: select { case <-ctx.Done(): default: })
bool closed(const goro::context& ctx) {
  bool done = false;
  goro::select(goro::recv_case(ctx.done(), [&](std::optional<std::monostate>) { done = true; }), goro::default_case([] {}));
  return done;
}

// fails(id): a group body that throws tagged_error(id), or returns for 0.
auto fails(int id) {
  return [id] {
    if (id != 0) throw tagged_error(id);
  };
}

}  // namespace

// Go: TestZeroGroup. A group without a context; after each go(), wait()
// returns the first error so far: later ones are ignored, and a group is
// reusable after wait().
TEST_CASE("errgroup: wait rethrows the first exception, later ones are ignored (Go TestZeroGroup)", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const std::vector<std::vector<int>> cases = {{}, {0}, {1}, {1, 0}, {1, 0, 2}};
  std::vector<std::string> failures;
  goro::run(
      [&] {
        for (const auto& errs : cases) {
          goro::errgroup g;
          int first = 0;
          for (std::size_t i = 0; i < errs.size(); ++i) {
            g.go(fails(errs[i]));
            if (first == 0) first = errs[i];
            int got = wait_error(g);
            if (got != first)
              failures.push_back("after " + std::to_string(i + 1) + " of case " + std::to_string(errs.size()) + ": wait gave " +
                                 std::to_string(got) + ", want " + std::to_string(first));
          }
          if (errs.empty() && wait_error(g) != 0) failures.push_back("an empty group's wait threw");
        }
      },
      goro::config{.procs = procs});
  INFO(failures.size() << " failures, the first: " << (failures.empty() ? "" : failures[0]));
  CHECK(failures.empty());
}

// The same with concurrent failures: many goroutines throw at once; wait()
// rethrows exactly one of them, the same one every time.
TEST_CASE("errgroup: of concurrent failures one is kept, and every wait rethrows it", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(200));
  int first = 0, second = 0, third = 0;
  std::atomic<int> ran{0};
  goro::run(
      [&] {
        goro::errgroup g;
        for (int i = 1; i <= n; ++i)
          g.go([&ran, i] {
            ran.fetch_add(1);
            if (i % 2 == 1) throw tagged_error(i);
          });
        first = wait_error(g);
        second = wait_error(g);
        g.go(fails(100000));  // after the first error: ignored
        third = wait_error(g);
      },
      goro::config{.procs = procs});
  CHECK(ran.load() == n);
  CHECK(first > 0);
  CHECK(first % 2 == 1);
  CHECK(second == first);
  CHECK(third == first);
}

// Go: TestWithContext. ctx() is cancelled once wait() returns, whether a
// goroutine failed or not, and wait() rethrows the first failure.
TEST_CASE("errgroup: ctx() is cancelled when wait returns (Go TestWithContext)", "[errgroup][context]") {
  auto procs = GENERATE(1u, 2u, 4u);
  struct tc {
    std::vector<int> errs;
    int want;
  };
  const std::vector<tc> cases = {{{}, 0}, {{0}, 0}, {{7}, 7}, {{7, 0}, 7}};
  std::vector<std::string> failures;
  goro::run(
      [&] {
        for (const auto& c : cases) {
          goro::errgroup g(goro::context{});
          if (closed(g.ctx())) failures.push_back("ctx cancelled before anything ran");
          for (int e : c.errs) g.go(fails(e));
          int got = wait_error(g);
          if (got != c.want) failures.push_back("wait gave " + std::to_string(got) + ", want " + std::to_string(c.want));
          if (!closed(g.ctx())) failures.push_back("ctx.done() not closed after wait (" + std::to_string(c.errs.size()) + " errs)");
          if (g.ctx().err() != std::errc::operation_canceled) failures.push_back("ctx.err() is not operation_canceled after wait");
        }
      },
      goro::config{.procs = procs});
  INFO(failures.size() << " failures, the first: " << (failures.empty() ? "" : failures[0]));
  CHECK(failures.empty());
}

// Go: TestWithContext's doc ("canceled the first time a function passed to Go
// returns a non-nil error"). The other goroutines see ctx() cancelled before
// wait() returns: one waits on done(), others sleep on ctx and end with
// canceled_error. If only wait() cancelled, wait() could not return before
// the parent's 30 s timeout (a bound for that failure: the sleepers would then
// end with timeout_error, not canceled_error; deterministic mode's clock jumps
// there at once).
TEST_CASE("errgroup: the first failure cancels ctx() while the others still run (Go TestWithContext)", "[errgroup][context]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int sleepers = static_cast<int>(goro_test::scale(20));
  std::atomic<int> saw_done{0}, canceled{0};
  int got = 0;
  bool cancelled_after = false;
  goro::run(
      [&] {
        goro::errgroup g(goro::with_timeout(goro::context{}, 30s).ctx);
        g.go([&, ctx = g.ctx()] {
          (void)ctx.done().recv();
          saw_done.fetch_add(1);
        });
        for (int i = 0; i < sleepers; ++i)
          g.go([&, ctx = g.ctx()] {
            try {
              goro::sleep_for(24h, ctx);
            } catch (const goro::canceled_error&) {
              canceled.fetch_add(1);
              throw;  // an error after the first: ignored
            }
          });
        g.go(fails(3));
        got = wait_error(g);
        cancelled_after = g.ctx().err() == std::errc::operation_canceled;
      },
      goro::config{.procs = procs});
  CHECK(got == 3);
  CHECK(saw_done.load() == 1);
  CHECK(canceled.load() == sleepers);
  CHECK(cancelled_after);
}

// A group's ctx() derives from its parent: the parent's cancellation reaches
// it. (If it did not, every goroutine would be blocked on a channel: run()
// would report a deadlock.)
TEST_CASE("errgroup: cancelling the parent cancels ctx()", "[errgroup][context]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool before = true, after = false;
  int got = -2;
  goro::run(
      [&] {
        goro::cancel_handle parent = goro::with_cancel(goro::context{});
        goro::errgroup g(parent.ctx);
        g.go([ctx = g.ctx()] {
          (void)ctx.done().recv();
          ctx.throw_if_done();  // canceled_error
        });
        before = closed(g.ctx());
        parent.cancel();
        got = wait_error(g);  // the sleeper's canceled_error is the group's error
        after = closed(g.ctx());
      },
      goro::config{.procs = procs});
  CHECK_FALSE(before);
  CHECK(got == -1);  // not a tagged_error: the canceled_error
  CHECK(after);
}

// Go: TestCancelCause (goro's contexts have no cause: what remains is that
// try_go's goroutines fail the group as go's do, and that ctx() ends
// cancelled in every case).
TEST_CASE("errgroup: try_go's failures are the group's, and ctx() ends cancelled (Go TestCancelCause)", "[errgroup][context]") {
  auto procs = GENERATE(1u, 2u, 4u);
  struct tc {
    std::vector<int> errs;
    int want;
  };
  const std::vector<tc> cases = {{{}, 0}, {{0}, 0}, {{9}, 9}, {{9, 0}, 9}};
  std::vector<std::string> failures;
  goro::run(
      [&] {
        for (const auto& c : cases) {
          goro::errgroup g(goro::context{});
          for (int e : c.errs)
            if (!g.try_go(fails(e))) failures.push_back("try_go without a limit gave false");
          int got = wait_error(g);
          if (got != c.want) failures.push_back("wait gave " + std::to_string(got) + ", want " + std::to_string(c.want));
          if (g.ctx().err() != std::errc::operation_canceled) failures.push_back("ctx.err() is not operation_canceled after wait");
        }
      },
      goro::config{.procs = procs});
  INFO(failures.size() << " failures, the first: " << (failures.empty() ? "" : failures[0]));
  CHECK(failures.empty());
}

// Go: TestTryGo, step by step: false at the limit, true once a goroutine has
// finished, a new limit after wait(), and limit 0 refusing everything.
TEST_CASE("errgroup: try_go is false at the limit and true after one finishes (Go TestTryGo)", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::string> failures;
  goro::run(
      [&] {
        goro::errgroup g;
        const int n = 42;
        g.set_limit(n);
        goro::chan<int> ch;
        auto fn = [ch] { ch.send(1); };
        for (int i = 0; i < n; ++i)
          if (!g.try_go(fn)) failures.push_back("try_go " + std::to_string(i) + " of " + std::to_string(n) + " failed");
        if (g.try_go(fn)) failures.push_back("try_go succeeded at the limit");
        goro::go([ch, n] {
          for (int i = 0; i < n; ++i) (void)ch.recv();
        });
        g.wait();

        if (!g.try_go(fn)) failures.push_back("try_go failed after every goroutine ended");
        goro::go([ch] { (void)ch.recv(); });
        g.wait();

        g.set_limit(1);  // switch the limit
        if (!g.try_go(fn)) failures.push_back("try_go failed under the new limit 1");
        if (g.try_go(fn)) failures.push_back("try_go succeeded over the new limit 1");
        goro::go([ch] { (void)ch.recv(); });
        g.wait();

        g.set_limit(0);  // block all calls
        for (int i = 0; i < 1 << 10; ++i)
          if (g.try_go(fn)) {
            failures.push_back("try_go succeeded with limit 0");
            break;
          }
        g.wait();
      },
      goro::config{.procs = procs});
  INFO(failures.size() << " failures, the first: " << (failures.empty() ? "" : failures[0]));
  CHECK(failures.empty());
}

// Go: TestGoLimit. Never more than `limit` goroutines of the group at once:
// each counts itself in, yields (Go sleeps 1 µs) to let others count, and
// fails the group if it saw more.
TEST_CASE("errgroup: go keeps at most the limit of goroutines active (Go TestGoLimit)", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int limit = 10;
  const int n = static_cast<int>(goro_test::scale(1 << 10));
  std::atomic<int> active{0}, peak{0}, ran{0};
  int got = -2;
  goro::run(
      [&] {
        goro::errgroup g;
        g.set_limit(limit);
        for (int i = 0; i <= n; ++i)
          g.go([&] {
            int now = active.fetch_add(1) + 1;
            for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
            }
            if (now > limit) throw std::runtime_error("saw " + std::to_string(now) + " active goroutines; want <= 10");
            goro::yield();
            active.fetch_sub(1);
            ran.fetch_add(1);
          });
        got = wait_error(g);
      },
      goro::config{.procs = procs});
  INFO("peak " << peak.load());
  CHECK(got == 0);
  CHECK(ran.load() == n + 1);
  CHECK(peak.load() <= limit);
  CHECK(peak.load() >= 1);
}

// go() parks while the limit is reached (try_go's false has a blocking twin):
// with the slots held by goroutines blocked on a channel, a go() from another
// goroutine parks in the semaphore's send (the dump shows it) until one ends.
TEST_CASE("errgroup: go parks at the limit until a goroutine of the group ends", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool returned_early = true, parked = false, saw_finished = false;
  goro::run(
      [&] {
        goro::errgroup g;
        g.set_limit(3);
        goro::chan<int> release;
        std::atomic<int> finished{0};
        std::atomic<bool> go_returned{false};
        for (int i = 0; i < 3; ++i)
          g.go([release, &finished] {
            (void)release.recv();
            finished.fetch_add(1);
          });
        goro::wait_group starter;
        starter.go([&] {
          g.go([&] { saw_finished = finished.load() >= 1; });
          go_returned.store(true);
        });
        // Until the starter is parked in go() (or, if the limit did not hold,
        // has returned from it).
        while (!go_returned.load()) {
          if (goro::debug::dump().find("[chan send") != std::string::npos) {
            parked = true;
            break;
          }
          goro::yield();
        }
        returned_early = go_returned.load();
        release.close();
        starter.wait();
        g.wait();
      },
      goro::config{.procs = procs});
  CHECK_FALSE(returned_early);
  CHECK(parked);
  CHECK(saw_finished);
}

// An exception of any type thrown by a group goroutine is the group's, never
// a panic: the process goes on, and wait() rethrows it as thrown.
TEST_CASE("errgroup: a group goroutine's exception does not end the process", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int caught_int = 0;
  std::string what;
  bool after = false;
  goro::run(
      [&] {
        goro::errgroup a;
        a.go([] { throw 42; });  // not a std::exception
        try {
          a.wait();
        } catch (int v) {
          caught_int = v;
        }
        goro::errgroup b(goro::context{});
        b.go([] { throw std::out_of_range("index 7"); });
        try {
          b.wait();
        } catch (const std::out_of_range& e) {
          what = e.what();
        }
        goro::errgroup c;
        c.go([&] { after = true; });
        c.wait();
      },
      goro::config{.procs = procs});
  CHECK(caught_int == 42);
  CHECK(what == "index 7");
  CHECK(after);
}

// wait() with no goroutine: returns at once, cancelling ctx().
TEST_CASE("errgroup: wait with no goroutines returns", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool plain_ok = false, ctx_cancelled = false, background_untouched = false;
  goro::run(
      [&] {
        goro::errgroup plain;
        plain.wait();
        plain.wait();
        plain_ok = true;
        background_untouched = !plain.ctx().err() && !plain.ctx().done();  // background: nil done channel
        goro::errgroup with_ctx(goro::context{});
        with_ctx.wait();
        ctx_cancelled = with_ctx.ctx().err() == std::errc::operation_canceled;
      },
      goro::config{.procs = procs});
  CHECK(plain_ok);
  CHECK(background_untouched);
  CHECK(ctx_cancelled);
}

// Shutdown: main returns while goroutines of groups are blocked. run()
// unwinds them with goroutine_exit and returns; goroutine_exit passes through
// the groups (it is not captured as a group's error: the local group's ctx()
// stays uncancelled). (a) A group local to main is freed when main returns, before
// its blocked goroutines are unwound: they share its state, so nothing freed
// is touched (ASan checks). (b) A group that outlives run() (goroutines call
// its go() and wait(), so it must) has goroutines blocked on a channel at the
// limit, a go() parked at the limit and a wait() parked.
TEST_CASE("errgroup: goroutines blocked in a group when main returns are unwound", "[errgroup][shutdown]") {
  auto procs = GENERATE(1u, 2u, 4u);
  struct count_unwind {
    std::atomic<int>* n;
    ~count_unwind() { n->fetch_add(1); }
  };
  std::atomic<int> unwound{0};
  std::atomic<bool> go_returned{false}, wait_returned{false};
  bool returned_early = true;
  goro::context local_ctx;
  goro::errgroup outer(goro::context{});
  goro::run(
      [&] {
        goro::chan<int> never;
        {
          goro::errgroup local(goro::context{});
          local_ctx = local.ctx();
          goro::wait_group started;
          started.add(2);
          for (int i = 0; i < 2; ++i)
            local.go([never, &unwound, &started] {
              count_unwind c{&unwound};
              started.done();
              (void)never.recv();
            });
          started.wait();
        }  // local is gone; its goroutines are still blocked

        outer.set_limit(2);
        goro::wait_group started;
        started.add(2);
        for (int i = 0; i < 2; ++i)
          outer.go([never, &unwound, &started] {
            count_unwind c{&unwound};
            started.done();
            (void)never.recv();
          });
        started.wait();
        goro::go([never, &unwound, &outer, &go_returned] {  // parks in go(): the limit is reached
          count_unwind c{&unwound};
          outer.go([never] { (void)never.recv(); });
          go_returned.store(true);
        });
        goro::go([&unwound, &outer, &wait_returned] {  // parks in wait()
          count_unwind c{&unwound};
          outer.wait();
          wait_returned.store(true);
        });
        // Until both are parked (or one has wrongly returned).
        while (!go_returned.load() && !wait_returned.load()) {
          std::string d = goro::debug::dump();
          if (d.find("[chan send") != std::string::npos && d.find("[sync.WaitGroup.Wait") != std::string::npos) break;
          goro::yield();
        }
        // (Once main has returned, the parked go() may still complete: a
        // blocked goroutine's unwinding gives its token back, and the
        // goroutine go() starts then is never run.)
        returned_early = go_returned.load() || wait_returned.load();
      },
      goro::config{.procs = procs});
  CHECK_FALSE(returned_early);
  CHECK(unwound.load() == 6);
  CHECK_FALSE(local_ctx.err());
  // (Not outer's: its parked wait() may be released normally once the
  // blocked goroutines' unwinding has ended them, and then cancels ctx().)
}

// set_limit while goroutines of the group are active is a logic error (Go
// panics): it throws and changes nothing; after wait() it is allowed.
TEST_CASE("errgroup: set_limit while goroutines are active throws logic_error", "[errgroup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string msg_unlimited, msg_limited;
  bool unchanged = false, allowed_after = false;
  goro::run(
      [&] {
        goro::chan<int> release;
        goro::errgroup g;
        g.go([release] { (void)release.recv(); });
        try {
          g.set_limit(1);
        } catch (const std::logic_error& e) {
          msg_unlimited = e.what();
        }
        unchanged = g.try_go([release] { (void)release.recv(); });  // still no limit
        release.send(1);
        release.send(1);
        g.wait();

        g.set_limit(1);
        g.go([release] { (void)release.recv(); });
        try {
          g.set_limit(-1);
        } catch (const std::logic_error& e) {
          msg_limited = e.what();
        }
        release.send(1);
        g.wait();
        g.set_limit(-1);
        g.set_limit(5);
        allowed_after = true;
      },
      goro::config{.procs = procs});
  CHECK(msg_unlimited.find("goro::errgroup::set_limit: modify limit while 1 goroutines") == 0);
  CHECK(msg_limited.find("still active") != std::string::npos);
  CHECK(unchanged);
  CHECK(allowed_after);
}

// Happens-before: writes before go() are seen by the goroutine; its writes,
// and the exception it throws, are seen after wait(). sim::shared checks the
// edges in the deterministic runs; in threaded builds it is a plain int, and
// the TSan build checks the same accesses.
TEST_CASE("errgroup: go happens before the goroutine, its end before wait returns", "[errgroup][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(50));
  long sum = 0;
  std::string what;
  goro::run(
      [&] {
        std::vector<std::unique_ptr<goro::sim::shared<int>>> cells;
        for (int i = 0; i < n; ++i) cells.push_back(std::make_unique<goro::sim::shared<int>>(0));
        goro::errgroup g;
        g.set_limit(4);
        for (int i = 0; i < n; ++i) {
          cells[i]->store(i);  // before go
          g.go([cell = cells[i].get()] { cell->store(cell->load() * 2 + 1); });
        }
        g.wait();
        for (auto& c : cells) sum += c->load();

        goro::errgroup h;
        auto payload = std::make_shared<std::string>();
        h.go([payload] {
          *payload = "written by the goroutine";
          throw std::runtime_error(*payload);
        });
        try {
          h.wait();
        } catch (const std::runtime_error& e) {
          what = std::string(e.what()) + " / " + *payload;
        }
      },
      goro::config{.procs = procs});
  CHECK(sum == static_cast<long>(n) * n);  // sum of 2i+1 over [0, n)
  CHECK(what == "written by the goroutine / written by the goroutine");
}

// As wait_group::go: a goroutine's copies of f and args are destroyed before
// the wait() its end releases returns (plain bools: TSan checks the edge).
TEST_CASE("errgroup: a goroutine's callable and arguments are destroyed before wait returns", "[errgroup][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool fn_destroyed = false, arg_destroyed = false, limited_destroyed = false;
  bool fn_seen = false, arg_seen = false, limited_seen = false;
  goro::run(
      [&] {
        goro::errgroup g;
        g.go([d = goro_test::slow_dtor(&fn_destroyed)](const goro_test::slow_dtor&) {}, goro_test::slow_dtor(&arg_destroyed));
        g.wait();
        fn_seen = fn_destroyed;
        arg_seen = arg_destroyed;

        goro::errgroup limited;
        limited.set_limit(1);
        CHECK(limited.try_go([d = goro_test::slow_dtor(&limited_destroyed)] { throw std::runtime_error("x"); }));
        CHECK_THROWS_AS(limited.wait(), std::runtime_error);
        limited_seen = limited_destroyed;
      },
      goro::config{.procs = procs});
  CHECK(fn_seen);
  CHECK(arg_seen);
  CHECK(limited_seen);
}

// The creation site: go and try_go pass the caller's line on (up to 8
// arguments), as goro::go and wait_group::go do.
TEST_CASE("errgroup: go and try_go record the caller's line with up to 8 arguments", "[errgroup]") {
  std::string dump;
  int line = 0;
  goro::run([&] {
    goro::chan<int> release;
    goro::wait_group started;
    started.add(4);
    auto body = [&](auto...) {
      started.done();
      for (int v : release) (void)v;
    };
    goro::errgroup g;
    line = __LINE__ + 1;
    g.go(body, 1, 2, 3, 4, 5, 6, 7, 8);
    g.go(body);
    (void)g.try_go(body, 1, 2, 3, 4, 5, 6, 7, 8);
    (void)g.try_go(body, 1);
    started.wait();
    dump = goro::debug::dump();
    release.close();
    g.wait();
  });
  INFO(dump);
  for (int l = line; l < line + 4; ++l) CHECK(dump.find("errgroup_test.cpp:" + std::to_string(l)) != std::string::npos);
  CHECK(dump.find("goro.hpp") == std::string::npos);
}

// wait() on a plain OS thread: it blocks the thread until the group's
// goroutines end, and rethrows the group's error there too.
TEST_CASE("errgroup: wait on a plain thread while the group's goroutines run", "[errgroup][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(100));
  std::atomic<int> ran{0};
  int thread_got = -2, main_got = -2, thread_ran = -1;
  goro::errgroup g;
  std::thread t;
  goro::run(
      [&] {
        goro::chan<int> gate;
        for (int i = 0; i < n; ++i)
          g.go([&ran, gate, i, n] {
            (void)gate.recv();  // closed below, once the thread exists
            ran.fetch_add(1);
            if (i == n / 2) throw tagged_error(5);
          });
        t = std::thread([&] {
          thread_got = wait_error(g);
          thread_ran = ran.load();
        });
        gate.close();
        main_got = wait_error(g);
      },
      goro::config{.procs = procs});
  t.join();
  CHECK(main_got == 5);
  CHECK(thread_got == 5);
  CHECK(thread_ran == n);
}

#if GORO_DETERMINISTIC
// Deterministic mode: go(), try_go() and wait() are scheduling points (even
// with nothing to wait for).
TEST_CASE("errgroup: go, try_go and wait are scheduling points", "[errgroup][det]") {
  std::uint64_t at_go = 0, at_try_go = 0, at_wait = 0;
  goro::run([&] {
    goro::errgroup g;
    std::uint64_t s0 = goro::sim::steps();
    g.go([] {});
    std::uint64_t s1 = goro::sim::steps();
    (void)g.try_go([] {});
    std::uint64_t s2 = goro::sim::steps();
    g.wait();
    std::uint64_t s3 = goro::sim::steps();
    g.wait();
    at_go = s1 - s0;
    at_try_go = s2 - s1;
    at_wait = goro::sim::steps() - s3;
  });
  CHECK(at_go >= 1);
  CHECK(at_try_go >= 1);
  CHECK(at_wait >= 1);
}
#endif
