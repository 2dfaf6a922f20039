// strategy::dfs (iterative context bounding), shrinking and GORO_CHOICES
// (docs/reference.md, "Deterministic mode"). The bug programs of
// bugs_test.cpp are checked there; these are the small programs whose
// schedules can be counted by hand.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unistd.h>

static_assert(GORO_DETERMINISTIC, "build this test with -DGORO_DETERMINISTIC=1");

using goro::sim::strategy;

namespace {

goro::sim::explore_result dfs(void (*body)(), unsigned bound, std::size_t runs = 100'000, bool shrink = true) {
  return goro::sim::explore(body, {.runs = runs, .how = strategy::dfs, .max_preemptions = bound, .shrink = shrink});
}

// One child with one sim::point; main waits for it. Main is goroutine 1, the
// child 2. The default schedule (no preemption) and its decisions where the
// running goroutine could go on while another is runnable (the branch points):
//   A  main: wg.go's point after go (1 and 2 runnable)
//   B  main: wg.wait's point (1 and 2 runnable); main then parks
//      child: sim::point, done's point (only 2 runnable: no branch)
//   C  child: the point after done, which readied main (1 and 2 runnable)
// Bound 0: 1 schedule. Bound 1: + A->2, B->2, C->1 = 4.
// Bound 2 adds, after A->2 (child runs while main is still runnable): its
// sim::point->1 and its done point->1; after B->2 the same two; after C->1
// nothing (main returns, no branch point follows): 4 more, 8 in all.
void one_child() {
  goro::wait_group wg;
  wg.go([] { goro::sim::point(); });
  wg.wait();
}

// A lost update: each goroutine reads, reaches a scheduling point, writes (a
// relaxed atomic: a lost update but no data race, so TSan stays silent).
// One preemption (at the first writer's point, to the other) loses an
// update; no schedule without a preemption does.
void lost_update() {
  std::atomic<int> x{0};
  goro::wait_group wg;
  for (int i = 0; i < 2; ++i)
    wg.go([&x] {
      int v = x.load(std::memory_order_relaxed);
      goro::sim::point();
      x.store(v + 1, std::memory_order_relaxed);
    });
  wg.wait();
  if (x.load(std::memory_order_relaxed) != 2) throw std::logic_error("lost update");
}

// Needs two preemptions: main must be preempted after the child starts (at
// its sim::point, 1), and the child at its point, between its two stores, back
// to main (2), for main to see the intermediate value.
void two_preemptions() {
  std::atomic<int> flag{0};
  goro::wait_group wg;
  wg.go([&flag] {
    flag.store(1, std::memory_order_relaxed);
    goro::sim::point();
    flag.store(0, std::memory_order_relaxed);
  });
  goro::sim::point();
  int seen = flag.load(std::memory_order_relaxed);
  wg.wait();
  if (seen == 1) throw std::logic_error("saw the intermediate value");
}

void deadlock_if_child_first() {
  goro::chan<int> c;
  goro::mutex mu;
  goro::wait_group wg;
  wg.go([&] {
    std::lock_guard<goro::mutex> lk(mu);
    c.send(1);  // main must be past its lock, else it waits for mu while the child waits for a receiver
  });
  goro::sim::point();
  std::unique_lock<goro::mutex> lk(mu);
  lk.unlock();
  (void)c.recv();
  wg.wait();
}

std::string choices_failure(const goro::sim::explore_result& r, void (*body)()) {
  try {
    goro::sim::run_with_choices(r.choices, body);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(passed)";
}

}  // namespace

TEST_CASE("dfs: schedule counts at bounds 0 1 2 match the hand count and exhaust", "[det][dfs]") {
  std::size_t want[] = {1, 4, 8};
  for (unsigned b = 0; b <= 2; ++b) {
    goro::sim::explore_result r = dfs(one_child, b);
    INFO("bound " << b << ": " << r.message);
    CHECK(r.ok);
    CHECK(r.exhausted);
    CHECK(r.runs_done == want[b]);
    CHECK(r.choices.empty());
  }
  // runs caps the schedules: not exhausted then.
  goro::sim::explore_result r = dfs(one_child, 2, 5);
  CHECK(r.ok);
  CHECK_FALSE(r.exhausted);
  CHECK(r.runs_done == 5);
}

TEST_CASE("dfs: a lost update needs one preemption and a bound of 1 finds it", "[det][dfs]") {
  goro::sim::explore_result r0 = dfs(lost_update, 0);
  CHECK(r0.ok);
  CHECK(r0.exhausted);
  CHECK(r0.runs_done == 1);
  goro::sim::explore_result r1 = dfs(lost_update, 1);
  REQUIRE_FALSE(r1.ok);
  CHECK_FALSE(r1.exhausted);
  CHECK(r1.preemptions == 1);
  CHECK(r1.message.rfind("lost update", 0) == 0);
  CHECK(r1.message.find("needs 1 preemption ") != std::string::npos);
  // The same program gives the same result, and a higher bound finds the
  // same first failure (every level below is explored first).
  goro::sim::explore_result again = dfs(lost_update, 1), r3 = dfs(lost_update, 3);
  CHECK(again.runs_done == r1.runs_done);
  CHECK(again.choices == r1.choices);
  CHECK(again.message == r1.message);
  CHECK(r3.runs_done == r1.runs_done);
  CHECK(r3.choices == r1.choices);
  CHECK(choices_failure(r1, lost_update) == "lost update");
}

TEST_CASE("dfs: a bug that needs two preemptions is not found at bound 1 and is at 2", "[det][dfs]") {
  goro::sim::explore_result r1 = dfs(two_preemptions, 1);
  CHECK(r1.ok);
  CHECK(r1.exhausted);
  goro::sim::explore_result r2 = dfs(two_preemptions, 2);
  REQUIRE_FALSE(r2.ok);
  CHECK(r2.preemptions == 2);
  CHECK(r2.runs_done > r1.runs_done);  // every schedule of bound 1, then some of bound 2
  CHECK(r2.message.find("needs 2 preemptions ") != std::string::npos);
  CHECK(choices_failure(r2, two_preemptions) == "saw the intermediate value");
  // random finds it too, and it shrinks to the same two.
  goro::sim::explore_result rr = goro::sim::explore(two_preemptions, {.runs = 10'000});
  REQUIRE_FALSE(rr.ok);
  CHECK(rr.preemptions == 2);
  CHECK(choices_failure(rr, two_preemptions) == "saw the intermediate value");
}

TEST_CASE("dfs: a deadlock found by dfs replays from its choices with the same report", "[det][dfs]") {
  goro::sim::explore_result r = dfs(deadlock_if_child_first, 2);
  REQUIRE_FALSE(r.ok);
  CHECK(r.message.rfind("all goroutines are asleep - deadlock!", 0) == 0);
  CHECK(r.preemptions == 1);
  CHECK(goro_test::same_report_text(choices_failure(r, deadlock_if_child_first)) ==
        goro_test::same_report_text(goro_test::without_shrink_note(r.message)));
}

TEST_CASE("shrink: off keeps the found schedule and its message; choices replay it", "[det][shrink]") {
  goro::sim::explore_result on = goro::sim::explore(lost_update, {.runs = 10'000});
  goro::sim::explore_result off = goro::sim::explore(lost_update, {.runs = 10'000, .shrink = false});
  REQUIRE_FALSE(on.ok);
  REQUIRE_FALSE(off.ok);
  CHECK(on.failing_seed == off.failing_seed);
  CHECK(on.runs_done == off.runs_done);
  CHECK(off.message == "lost update");
  CHECK(on.message.rfind("lost update\ngoro: this failure needs 1 preemption (shrunk from ", 0) == 0);
  CHECK(on.preemptions == 1);
  CHECK(off.preemptions >= on.preemptions);
  CHECK(off.choices.size() >= on.choices.size());
  CHECK(choices_failure(off, lost_update) == "lost update");
  CHECK(choices_failure(on, lost_update) == "lost update");
}

TEST_CASE("shrink: GORO_CHOICES replays the shrunk schedule in a single run", "[det][shrink]") {
  goro::sim::explore_result r = goro::sim::explore(deadlock_if_child_first, {.runs = 10'000, .how = strategy::pct});
  REQUIRE_FALSE(r.ok);
  REQUIRE_FALSE(r.choices.empty());
  std::string hex = goro_test::hex(r.choices);
  ::setenv("GORO_CHOICES", hex.c_str(), 1);
  std::string again;
  try {
    goro::run(deadlock_if_child_first);  // config::seed 0: the environment decides
  } catch (const goro::deadlock_error& e) {
    again = e.what();
  }
  ::setenv("GORO_CHOICES", "0g", 1);
  CHECK_THROWS_AS(goro::run(deadlock_if_child_first), std::invalid_argument);
  ::unsetenv("GORO_CHOICES");
  CHECK(goro_test::same_report_text(again) == goro_test::same_report_text(goro_test::without_shrink_note(r.message)));
  // A fixed seed in the config wins over the environment, as with GORO_SEED.
  ::setenv("GORO_CHOICES", hex.c_str(), 1);
  CHECK_NOTHROW(goro::run(one_child, {.seed = 1}));
  ::unsetenv("GORO_CHOICES");
}

namespace {
void chan_misuse() {
  goro::chan<int> result, quit;
  goro::wait_group wg;
  wg.go([=] { result.send(42); });
  goro::go([quit] { quit.close(); });
  goro::select(goro::recv_case(result, [](auto) {}), goro::recv_case(quit, [](auto) {}));
  wg.wait();
}

void same(const goro::sim::explore_result& a, const goro::sim::explore_result& b) {
  CHECK(a.ok == b.ok);
  CHECK(a.failing_seed == b.failing_seed);
  CHECK(a.runs_done == b.runs_done);
  CHECK(a.exhausted == b.exhausted);
  CHECK(a.preemptions == b.preemptions);
  CHECK(a.choices == b.choices);
  CHECK(goro_test::same_report_text(a.message) == goro_test::same_report_text(b.message));
}
}  // namespace

TEST_CASE("jobs: forked workers give the result of one job", "[det][jobs]") {
  void (*bodies[])() = {lost_update, two_preemptions, deadlock_if_child_first, chan_misuse, one_child};
  for (auto body : bodies) {
    for (strategy how : {strategy::random, strategy::pct, strategy::dfs}) {
      for (std::size_t runs : {std::size_t{3}, std::size_t{5000}}) {
        INFO("strategy " << static_cast<int>(how) << " runs " << runs);
        goro::sim::explore_options o{.first_seed = 7, .runs = runs, .how = how, .max_preemptions = 3};
        goro::sim::explore_result one = goro::sim::explore(body, o);
        o.jobs = 2;
        goro::sim::explore_result two = goro::sim::explore(body, o);
        o.jobs = 3;
        goro::sim::explore_result three = goro::sim::explore(body, o);
        same(one, two);
        same(one, three);
      }
    }
  }
}

TEST_CASE("jobs: a worker that dies makes explore throw and leaves the caller running", "[det][jobs]") {
  // The body ends its process at seed 37 (as a crash would): only a worker runs it.
  auto body = [] {
    if (goro::sim::seed() == 37) ::_exit(3);
    goro::sim::point();
  };
  CHECK_THROWS_AS(goro::sim::explore(body, {.runs = 1000, .jobs = 2}), std::runtime_error);
  // Still usable afterwards.
  goro::sim::explore_result r = goro::sim::explore(body, {.runs = 30, .jobs = 2});
  CHECK(r.ok);
  CHECK(r.runs_done == 30);
}
