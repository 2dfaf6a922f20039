// The execution trace in threaded mode ($GORO_DEBUG=trace=<path>; trace.hpp):
// the JSON's structure, its slices, instant events and flows, the per-P and
// blocking<> tracks, the size cap, and nothing written when it is off.
#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "trace_util.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

namespace {

using goro_test::trace_ev;

// traced_run runs body under run() with $GORO_DEBUG set to `debug` (read at
// run() start) and returns the trace's text.
template <class F>
std::string traced_run(const std::string& path, const std::string& debug, unsigned procs, F body) {
  ::setenv("GORO_DEBUG", debug.c_str(), 1);
  goro::run(body, goro::config{.procs = procs});
  ::unsetenv("GORO_DEBUG");
  return goro_test::read_file(path);
}

}  // namespace

TEST_CASE("trace: slices, create, block, unblock and flows", "[trace]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string path = goro_test::temp_path("trace_basic.json");
  std::string json = traced_run(path, "trace=" + path, procs, [] {
    goro::chan<int> c, d;
    goro::wait_group wg;
    wg.go([&] {
      for (int i = 0; i < 50; ++i) {
        c.send(i);
        d.recv();
      }
    });
    wg.go([] { goro::sleep_for(std::chrono::milliseconds(1)); });  // readied by a timer: no goroutine readier
    for (int i = 0; i < 50; ++i) {
      c.recv();
      d.send(i);
    }
    wg.wait();
  });
  std::filesystem::remove(path);
  REQUIRE(!json.empty());
  REQUIRE(goro_test::json_balanced(json));
  auto evs = goro_test::trace_events(json);
  std::set<long long> sliced, p_tracks;
  bool created = false, blocked_recv = false, unblocked_by_sender = false;
  for (const trace_ev& e : evs) {
    if (e.ph == "X" && e.cat == "goroutine") {
      sliced.insert(e.integer("goid"));
      CHECK(e.tid < static_cast<long long>(procs));  // a P's track
      CHECK(e.dur >= 0);
      CHECK(e.name.find("trace_test.cpp:") != std::string::npos);  // named by the creation site
    }
    if (e.ph == "M" && e.name == "thread_name" && e.line.find("{\"name\":\"P") != std::string::npos) p_tracks.insert(e.tid);
    if (e.cat == "create" && e.integer("parent") == 1 && e.integer("child") == 2) created = true;
    if (e.cat == "block" && e.integer("goid") == 1 && e.str("reason") == "chan receive") blocked_recv = true;
    if (e.cat == "unblock" && e.integer("goid") == 1 && e.integer("by") == 2) unblocked_by_sender = true;
  }
  CHECK(sliced.count(1) == 1);  // main
  CHECK(sliced.count(2) == 1);  // the goroutine
  CHECK(created);
  CHECK(blocked_recv);
  CHECK(unblocked_by_sender);  // goroutine 2's send readied main, blocked in its receive
  for (long long t : p_tracks) CHECK(t < static_cast<long long>(procs));
  CHECK(!p_tracks.empty());
  std::size_t nflows = 0;
  CHECK(goro_test::flows_matched(evs, &nflows));
  CHECK(nflows > 0);
  // A flow from goroutine 2 (the sender) ends at the start of a slice of
  // goroutine 1 (the receiver it readied), on that slice's track.
  bool flow_to_main = false;
  for (const trace_ev& s : evs) {
    if (s.ph != "s" || s.integer("goid") != 2) continue;
    for (const trace_ev& f : evs)
      if (f.ph == "f" && f.num("id") == s.num("id") && f.integer("goid") == 1)
        for (const trace_ev& x : evs)
          if (x.ph == "X" && x.integer("goid") == 1 && x.tid == f.tid && x.ts == f.ts) flow_to_main = true;
  }
  CHECK(flow_to_main);
  // Every arrow leaves a slice of its readier, on that slice's track (a
  // ready from g0, such as a timer's, draws none).
  for (const trace_ev& st : evs) {
    if (st.ph != "s") continue;
    bool inside = false;
    for (const trace_ev& x : evs)
      if (x.ph == "X" && x.cat == "goroutine" && x.tid == st.tid && x.integer("goid") == st.integer("goid") && x.ts <= st.ts + 0.002 &&
          st.ts <= x.ts + x.dur + 0.002)  // µs, printed with 3 decimals
        inside = true;
    CHECK(st.integer("goid") != 0);
    CHECK(inside);
  }
}

TEST_CASE("trace: a goroutine readied by the netpoller gets an unblock event", "[trace]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string path = goro_test::temp_path("trace_netpoll.json");
  std::string json = traced_run(path, "trace=" + path, procs, [] {
    goro::net::listener ln = goro::net::listen("127.0.0.1:0");
    goro::net::conn client = goro::net::dial(ln.addr());
    goro::net::conn server = ln.accept();
    goro::wait_group wg;
    wg.go([&] {
      char buf[1];
      (void)server.read(std::as_writable_bytes(std::span(buf)));
    });
    // Write only once the reader waits on its fd (its dump entry says so):
    // the byte then readies it through the netpoller.
    while (goro::debug::dump().find("waiting for fd ") == std::string::npos) goro::yield();
    char b = 'x';
    client.write(std::as_bytes(std::span(&b, 1)));
    wg.wait();
  });
  std::filesystem::remove(path);
  REQUIRE(goro_test::json_balanced(json));
  auto evs = goro_test::trace_events(json);
  bool blocked_io = false, unblocked_by_poller = false;
  for (const trace_ev& e : evs) {
    if (e.cat == "block" && e.integer("goid") == 2 && e.str("reason").rfind("IO wait", 0) == 0) blocked_io = true;
    if (e.cat == "unblock" && e.integer("goid") == 2 && e.integer("by") == 0) unblocked_by_poller = true;
  }
  CHECK(blocked_io);
  CHECK(unblocked_by_poller);
}

TEST_CASE("trace: blocking<> is a slice on the M's track", "[trace]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string path = goro_test::temp_path("trace_blocking.json");
  std::string json = traced_run(path, "trace=" + path, procs, [] {
    goro::wait_group wg;
    wg.go([] {
      goro::blocking<goro::handoff_now> b;
      ::usleep(1000);
    });
    wg.wait();
  });
  std::filesystem::remove(path);
  REQUIRE(goro_test::json_balanced(json));
  auto evs = goro_test::trace_events(json);
  std::set<long long> m_tracks;
  for (const trace_ev& e : evs)
    if (e.ph == "M" && e.name == "thread_name" && e.line.find(" (blocking)\"") != std::string::npos) m_tracks.insert(e.tid);
  bool found = false;
  for (const trace_ev& e : evs)
    if (e.ph == "X" && e.cat == "blocking") {
      CHECK(m_tracks.count(e.tid) == 1);
      CHECK(e.integer("goid") == 2);
      CHECK(e.dur >= 1000);  // microseconds: it slept 1 ms inside
      found = true;
    }
  CHECK(found);
}

TEST_CASE("trace: the cap keeps the most recent events", "[trace]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long cap = 1000;
  const int yields = 5000;
  std::string path = goro_test::temp_path("trace_cap.json");
  std::uint64_t last = 0;  // the last goroutine's id (ids come in per-P batches: not always 3)
  std::string json = traced_run(path, "trace=" + path + ",tracebuf=" + std::to_string(cap), procs, [&] {
    goro::wait_group wg;
    wg.go([&] {
      for (int i = 0; i < yields; ++i) goro::yield();
    });
    wg.wait();
    wg.go([&] { last = goro::this_goroutine::id(); });  // after every one of goroutine 2's events
    wg.wait();
  });
  std::filesystem::remove(path);
  REQUIRE(goro_test::json_balanced(json));
  auto evs = goro_test::trace_events(json);
  long events = 0, g2_slices = 0;
  bool newest = false;
  for (const trace_ev& e : evs) {
    if (e.ph == "M") continue;
    ++events;
    if (e.ph == "X" && e.integer("goid") == 2) ++g2_slices;
    if (e.ph == "X" && e.integer("goid") == static_cast<long long>(last)) newest = true;
  }
  CHECK(events <= cap);
  CHECK(g2_slices > 0);
  CHECK(g2_slices < yields);  // the oldest were overwritten...
  CHECK(newest);              // ...and the newest kept
}

TEST_CASE("trace: off writes nothing", "[trace]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string path = goro_test::temp_path("trace_off.json");
  ::unsetenv("GORO_DEBUG");
  goro::run(
      [] {
        goro::wait_group wg;
        wg.go([] { goro::yield(); });
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(!std::filesystem::exists(path));
  // A key that is not trace= does not turn it on either.
  ::setenv("GORO_DEBUG", ("tracebuf=100,sigquit=0,x=" + path).c_str(), 1);
  goro::run([] {}, goro::config{.procs = procs});
  ::unsetenv("GORO_DEBUG");
  CHECK(!std::filesystem::exists(path));
}

TEST_CASE("trace: a goroutine's label is in its slices' names", "[trace]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string path = goro_test::temp_path("trace_label.json");
  std::uint64_t worker = 0;
  std::string json = traced_run(path, "trace=" + path, procs, [&] {
    goro::wait_group wg;
    wg.go([&] {
      worker = goro::this_goroutine::id();
      goro::this_goroutine::set_label("worker \"7\"");  // quotes: escaped in the JSON
      goro::yield();
    });
    wg.wait();
  });
  std::filesystem::remove(path);
  REQUIRE(goro_test::json_balanced(json));
  bool labelled = false, main_unlabelled = true;
  for (const trace_ev& e : goro_test::trace_events(json)) {
    if (e.ph != "X") continue;
    if (e.integer("goid") == static_cast<long long>(worker) && e.name.find(" [worker \"7\"]") != std::string::npos &&
        e.str("label") == "worker \"7\"")
      labelled = true;
    if (e.integer("goid") == 1 && e.name.find('[') != std::string::npos) main_unlabelled = false;
  }
  CHECK(labelled);
  CHECK(main_unlabelled);
}
