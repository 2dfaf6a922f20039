// The execution trace in deterministic mode (trace.hpp): explore's
// trace_path writes the failing run's trace (steps on the time axis, one lane
// per goroutine) and an HTML timeline; a deadlock marks the blocked
// goroutines, a data race its two accesses.
#include <catch2/catch.hpp>

#include "goro.hpp"
#include "trace_util.hpp"

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

namespace {

using goro_test::trace_ev;

void lock_order() {
  goro::mutex v1, v2;
  goro::wait_group wg;
  wg.go([&] {
    goro::this_goroutine::set_label("v1 first");
    std::lock_guard<goro::mutex> a(v1);
    std::lock_guard<goro::mutex> b(v2);
  });
  wg.go([&] {
    std::lock_guard<goro::mutex> a(v2);
    std::lock_guard<goro::mutex> b(v1);
  });
  wg.wait();
}

void racy_counter() {
  goro::sim::shared<int> n{0};
  goro::wait_group wg;
  for (int i = 0; i < 2; ++i) wg.go([&] { n.store(n.load() + 1); });
  wg.wait();
}

std::set<long long> lanes(const std::vector<trace_ev>& evs) {
  std::set<long long> out;
  for (const trace_ev& e : evs)
    if (e.ph == "M" && e.name == "thread_name" && e.tid > 0) out.insert(e.tid);
  return out;
}

}  // namespace

TEST_CASE("det trace: lock-order deadlock", "[trace]") {
  std::string path = goro_test::temp_path("det_lock_order.json");
  std::string html = path.substr(0, path.size() - 5) + ".html";
  std::filesystem::remove(html);
  goro::sim::explore_result r = goro::sim::explore(lock_order, {.runs = 10'000, .trace_path = path});
  REQUIRE(!r.ok);
  std::string json = goro_test::read_file(path);
  std::string page = goro_test::read_file(html);
  std::filesystem::remove(path);
  std::filesystem::remove(html);
  REQUIRE(goro_test::json_balanced(json));
  CHECK(json.find("\"clock\":\"steps\"") != std::string::npos);
  CHECK(json.find("\"seed\":" + std::to_string(r.failing_seed)) != std::string::npos);
  auto evs = goro_test::trace_events(json);
  CHECK(lanes(evs) == std::set<long long>{1, 2, 3});  // one lane per goroutine of the run
  std::set<long long> dead, mutex_blocked, sliced;
  for (const trace_ev& e : evs) {
    if (e.cat == "deadlock") dead.insert(e.tid);
    if (e.cat == "block" && e.str("reason") == "sync.Mutex.Lock") mutex_blocked.insert(e.tid);
    if (e.ph == "X") {
      sliced.insert(e.tid);
      CHECK(e.dur >= 1);
      CHECK(e.ts == static_cast<long long>(e.ts));  // whole steps
    }
  }
  CHECK(dead == std::set<long long>{1, 2, 3});
  CHECK(json.find("\"name\":\"thread_name\",\"args\":{\"name\":\"g2 trace_test.cpp:") != std::string::npos);
  CHECK(json.find(" [v1 first]\"}}") != std::string::npos);  // goroutine 2's lane is named with its label
  CHECK(mutex_blocked == std::set<long long>{2, 3});
  CHECK(sliced == std::set<long long>{1, 2, 3});
  CHECK(goro_test::flows_matched(evs));
  // Time: each block instant is where a slice of its goroutine ends (the
  // end of the step it parked in), and nothing runs past the deadlock marks.
  double dead_at = 0;
  for (const trace_ev& e : evs)
    if (e.cat == "deadlock") dead_at = e.ts;
  for (const trace_ev& b : evs) {
    if (b.cat != "block") continue;
    bool ends_slice = false;
    for (const trace_ev& x : evs)
      if (x.ph == "X" && x.tid == b.tid && x.ts + x.dur == b.ts) ends_slice = true;
    CHECK(ends_slice);
  }
  for (const trace_ev& x : evs)
    if (x.ph == "X") CHECK(x.ts + x.dur <= dead_at);
  // The page: self-contained (no network), the same data, and the drawing code.
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("http://") == page.find("http://www.w3.org/2000/svg"));  // the SVG namespace, nothing fetched
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("src=") == std::string::npos);
  CHECK(page.find(json.substr(0, 200)) != std::string::npos);
  CHECK(page.find("data-lanes") != std::string::npos);
}

TEST_CASE("det trace: a data race marks both accesses", "[trace]") {
  std::string path = goro_test::temp_path("det_race.json");
  goro::sim::explore_result r = goro::sim::explore(racy_counter, {.runs = 1000, .trace_path = path});
  REQUIRE(!r.ok);
  REQUIRE(r.message.find("data race") != std::string::npos);
  std::string json = goro_test::read_file(path);
  std::filesystem::remove(path);
  std::filesystem::remove(path.substr(0, path.size() - 5) + ".html");
  REQUIRE(goro_test::json_balanced(json));
  auto evs = goro_test::trace_events(json);
  std::vector<trace_ev> races;
  for (const trace_ev& e : evs)
    if (e.cat == "race") races.push_back(e);
  REQUIRE(races.size() == 2);
  CHECK(races[0].tid != races[1].tid);  // two goroutines' lanes
  CHECK(races[0].integer("other") == races[1].tid);
  CHECK(races[1].integer("other") == races[0].tid);
  for (const trace_ev& e : races) {
    // The report names each access with its goroutine and step.
    std::string access = "by goroutine " + std::to_string(e.tid) + " at ";
    CHECK(r.message.find(access) != std::string::npos);
    CHECK(r.message.find(", step " + std::to_string(static_cast<long long>(e.ts))) != std::string::npos);
    CHECK(e.name.find("trace_test.cpp:") != std::string::npos);
  }
  CHECK(lanes(evs).size() == 3);
}

TEST_CASE("det trace: explore without a failure writes nothing", "[trace]") {
  std::string path = goro_test::temp_path("det_ok.json");
  goro::sim::explore_result r = goro::sim::explore([] {
    goro::wait_group wg;
    wg.go([] {});
    wg.wait();
  }, {.runs = 20, .trace_path = path});
  CHECK(r.ok);
  CHECK(!std::filesystem::exists(path));
}

TEST_CASE("det trace: a single run under GORO_DEBUG=trace", "[trace]") {
  std::string path = goro_test::temp_path("det_run.json");
  ::setenv("GORO_DEBUG", ("trace=" + path).c_str(), 1);
  goro::run([] {
    goro::chan<int> c;
    goro::go([&] { c.send(1); });
    c.recv();
  }, goro::config{.seed = 7});
  ::unsetenv("GORO_DEBUG");
  std::string json = goro_test::read_file(path);
  std::filesystem::remove(path);
  std::filesystem::remove(path.substr(0, path.size() - 5) + ".html");
  REQUIRE(goro_test::json_balanced(json));
  auto evs = goro_test::trace_events(json);
  CHECK(lanes(evs) == std::set<long long>{1, 2});
  bool handoff = false;  // the channel hands over: one of them readies the other
  for (const trace_ev& e : evs)
    if (e.cat == "unblock" && ((e.tid == 1 && e.integer("goid") == 2) || (e.tid == 2 && e.integer("goid") == 1))) handoff = true;
  CHECK(handoff);
  CHECK(goro_test::flows_matched(evs));
}
