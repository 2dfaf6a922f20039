// Dumps and deadlock reports: where each goroutine waits ("blocked at
// file:line"), what it waits on (a channel's type, capacity and length; a
// mutex's holder and where it was locked), and mutex wait cycles
// (docs/reference.md, "Diagnostics"). Built twice: threaded (with
// $GORO_DEBUG=tracebacks=1, which these tests set) and deterministic
// (det_debug_test, where tracebacks are always on).
//
// Each blocked goroutine is created on the line where it blocks, so its
// entry is found by its "created at" line and must say "blocked at" that same
// line. The dumps are taken by main once every other goroutine has provably
// parked: it polls debug::dump() (yielding between polls) until the expected
// number of entries say "waiting for", never sleeping.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// tracebacks_on: threaded mode needs $GORO_DEBUG=tracebacks=1, read when a
// runtime starts; deterministic mode has them always.
void tracebacks_on() { ::setenv("GORO_DEBUG", "tracebacks=1", 1); }

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// dump_when_parked: debug::dump() once n goroutines are parked with a known
// wait object (their entries say "waiting for"). Main only.
std::string dump_when_parked(std::size_t n) {
  for (;;) {
    std::string d = goro::debug::dump();
    if (count_of(d, "\twaiting for ") >= n) return d;
    goro::yield();
  }
}

// entry: the dump entry of the goroutine created at this file's line `line`
// (from its "goroutine" header to its "created at" line), or "".
std::string entry(const std::string& dump, int line) {
  std::string created = "debug_test.cpp:" + std::to_string(line) + "\n";
  for (std::size_t at = dump.find(created); at != std::string::npos; at = dump.find(created, at + 1)) {
    std::size_t line_start = dump.rfind('\n', at) + 1;  // npos + 1 == 0
    if (dump.compare(line_start, 12, "\tcreated at ") != 0) continue;  // a caller frame's location line
    std::size_t begin = dump.rfind("\ngoroutine ", at);  // a header starts a line ("held by goroutine" does not)
    begin = begin == std::string::npos ? 0 : begin + 1;
    return dump.substr(begin, at + created.size() - begin);
  }
  return "";
}

// blocked_at: the entry says "blocked at <...>debug_test.cpp:<line> (".
bool blocked_at(const std::string& e, int line) {
  std::size_t at = e.find("\tblocked at ");
  if (at == std::string::npos) return false;
  std::size_t end = e.find('\n', at);
  std::string l = e.substr(at, end - at);
  return l.find("debug_test.cpp:" + std::to_string(line) + " (") != std::string::npos;
}

// goid: the id in an entry's header.
std::uint64_t goid(const std::string& e) { return std::strtoull(e.c_str() + std::strlen("goroutine "), nullptr, 10); }

// Two calls deep in user code: the innermost one is the blocking place.
[[gnu::noinline]] void deep_recv(goro::chan<int> c, int* line) {
  *line = __LINE__ + 1;
  (void)c.recv();
  asm volatile("");
}
[[gnu::noinline]] void deep_outer(goro::chan<int> c, int* inner, int* outer) {
  *outer = __LINE__ + 1;
  deep_recv(c, inner);
  asm volatile("");
}

}  // namespace

TEST_CASE("debug: dumps name the line each goroutine blocks on", "[debug]") {
  tracebacks_on();
  auto procs = GENERATE(1u, 2u, 4u);
  std::string d;
  int l_send = 0, l_recv = 0, l_select = 0, l_sleep = 0, l_wg = 0, l_deep = 0, deep_inner = 0, deep_outer_line = 0;
  goro::run(
      [&] {
        goro::chan<int> full(1), empty, never;
        full.send(0);
        goro::wait_group wg, blocked;
        blocked.add(1);
        l_send = __LINE__ + 1;
        wg.go([&] { try { full.send(1); } catch (const goro::closed_channel&) {} });
        l_recv = __LINE__ + 1;
        wg.go([&] { (void)empty.recv(); });
        l_select = __LINE__ + 1;
        wg.go([&] { goro::select(goro::recv_case(empty, [](auto) {}), goro::recv_case(never, [](auto) {})); });
        l_sleep = __LINE__ + 1;
        goro::go([] { goro::sleep_for(1h); });
        l_wg = __LINE__ + 1;
        wg.go([&] { blocked.wait(); });
        l_deep = __LINE__ + 1;
        wg.go([&] { deep_outer(empty, &deep_inner, &deep_outer_line); });
        d = dump_when_parked(6);
        full.close();
        empty.close();
        blocked.done();
        wg.wait();
      },
      goro::config{.procs = procs});
  INFO(d);
  std::string e_send = entry(d, l_send), e_recv = entry(d, l_recv), e_select = entry(d, l_select);
  std::string e_sleep = entry(d, l_sleep), e_wg = entry(d, l_wg), e_deep = entry(d, l_deep);
  CHECK(blocked_at(e_send, l_send));
  CHECK(e_send.find("[chan send") != std::string::npos);
  CHECK(e_send.find("\twaiting for chan<int> 0x") != std::string::npos);
  CHECK(e_send.find(" (cap 1, len 1)\n") != std::string::npos);
  CHECK(blocked_at(e_recv, l_recv));
  CHECK(e_recv.find("\twaiting for chan<int> 0x") != std::string::npos);
  CHECK(e_recv.find(" (cap 0, len 0)\n") != std::string::npos);
  CHECK(blocked_at(e_select, l_select));
  CHECK(e_select.find("\twaiting for select on receive from chan<int> 0x") != std::string::npos);
  CHECK(count_of(e_select, "receive from chan<int>") == 2);
  CHECK(blocked_at(e_sleep, l_sleep));
  CHECK(e_sleep.find("\twaiting for timer, fires in ") != std::string::npos);
  CHECK(blocked_at(e_wg, l_wg));
  CHECK(e_wg.find("\twaiting for wait_group 0x") != std::string::npos);
  CHECK(e_wg.find(", counter 1\n") != std::string::npos);
  // Two calls deep: blocked at the inner call's line, the outer one above it.
  CHECK(blocked_at(e_deep, deep_inner));
  CHECK(e_deep.find("debug_test.cpp:" + std::to_string(deep_outer_line) + "\n") != std::string::npos);
  CHECK(e_deep.find("deep_outer") != std::string::npos);
}

TEST_CASE("debug: mutex waits name the holder and where it locked", "[debug]") {
  tracebacks_on();
  auto procs = GENERATE(1u, 2u, 4u);
  std::string d1, d2;
  int l_lock = 0, l_guard = 0, l_unique = 0, l_cv = 0, l_wlock = 0, l_rlock = 0, l_writer = 0, l_reader = 0;
  goro::run(
      [&] {
        goro::mutex mu, cvmu;
        goro::shared_mutex rw;
        goro::condition_variable cv;
        goro::wait_group wg;
        bool go_on = false;
        l_lock = __LINE__ + 1;
        mu.lock();
        l_rlock = __LINE__ + 1;
        rw.lock_shared();
        l_guard = __LINE__ + 1;
        wg.go([&] { std::lock_guard<goro::mutex> g(mu); });
        l_unique = __LINE__ + 1;
        wg.go([&] { std::unique_lock<goro::mutex> g(mu); });
        l_writer = __LINE__ + 1;
        wg.go([&] { std::lock_guard<goro::shared_mutex> g(rw); });
        l_cv = __LINE__ + 1;
        wg.go([&] { std::unique_lock<goro::mutex> g(cvmu); cv.wait(g, [&] { return go_on; }); });
        d1 = dump_when_parked(4);
        {
          std::lock_guard<goro::mutex> g(cvmu);
          go_on = true;
        }
        cv.notify_all();
        rw.unlock_shared();
        mu.unlock();
        wg.wait();
        // A reader waiting for a writer.
        l_wlock = __LINE__ + 1;
        rw.lock();
        l_reader = __LINE__ + 1;
        wg.go([&] { std::shared_lock<goro::shared_mutex> g(rw); });
        d2 = dump_when_parked(1);
        rw.unlock();
        wg.wait();
      },
      goro::config{.procs = procs});
  INFO(d1);
  INFO(d2);
  std::string e_guard = entry(d1, l_guard), e_unique = entry(d1, l_unique), e_writer = entry(d1, l_writer), e_cv = entry(d1, l_cv);
  REQUIRE(d1.find(", main]:\n") != std::string::npos);
  std::string main_id = std::to_string(goid(d1.substr(d1.rfind("goroutine ", d1.find(", main]:\n")))));
  for (const std::string* e : {&e_guard, &e_unique}) {
    CHECK(e->find("[sync.Mutex.Lock") != std::string::npos);
    CHECK(e->find("\twaiting for mutex 0x") != std::string::npos);
    CHECK(e->find(", held by goroutine " + main_id + ", locked at ") != std::string::npos);
    CHECK(e->find("debug_test.cpp:" + std::to_string(l_lock) + " (") != std::string::npos);
  }
  CHECK(blocked_at(e_guard, l_guard));
  CHECK(blocked_at(e_unique, l_unique));
  CHECK(blocked_at(e_writer, l_writer));
  CHECK(e_writer.find("\twaiting for shared_mutex 0x") != std::string::npos);
  CHECK(e_writer.find(", held by 1 reader\n") != std::string::npos);
  CHECK(blocked_at(e_cv, l_cv));
  CHECK(e_cv.find("[sync.Cond.Wait") != std::string::npos);
  CHECK(e_cv.find("\twaiting for condition_variable 0x") != std::string::npos);
  std::string e_reader = entry(d2, l_reader);
  CHECK(blocked_at(e_reader, l_reader));
  CHECK(e_reader.find("[sync.RWMutex.RLock") != std::string::npos);
  CHECK(e_reader.find(", held by goroutine " + main_id + ", locked at ") != std::string::npos);
  CHECK(e_reader.find("debug_test.cpp:" + std::to_string(l_wlock) + " (") != std::string::npos);
}

TEST_CASE("debug: net waits name the read and the accept", "[debug]") {
  tracebacks_on();
  auto procs = GENERATE(1u, 2u, 4u);
  std::string d;
  int l_accept = 0, l_read = 0;
  goro::run(
      [&] {
        goro::net::listener ln = goro::net::listen("127.0.0.1:0");
        goro::net::listener idle = goro::net::listen("127.0.0.1:0");
        goro::net::conn client = goro::net::dial(ln.addr());
        goro::net::conn server = ln.accept();
        goro::wait_group wg;
        l_accept = __LINE__ + 1;
        wg.go([&] { try { (void)idle.accept(); } catch (const goro::net::closed_error&) {} });
        l_read = __LINE__ + 1;
        wg.go([&] { char buf[8]; (void)server.read(std::as_writable_bytes(std::span(buf))); });
        d = dump_when_parked(2);
        client.close();
        idle.close();
        wg.wait();
      },
      goro::config{.procs = procs});
  INFO(d);
  std::string e_accept = entry(d, l_accept), e_read = entry(d, l_read);
  CHECK(blocked_at(e_accept, l_accept));
  CHECK(e_accept.find("[IO wait") != std::string::npos);
  CHECK(e_accept.find("\twaiting for fd ") != std::string::npos);
  CHECK(e_accept.find(" (read)\n") != std::string::npos);
  CHECK(blocked_at(e_read, l_read));
  CHECK(e_read.find(" (read)\n") != std::string::npos);
}

namespace {

// A three-goroutine lock cycle: a holds m1 and wants m2, b holds m2 and wants
// m3, c holds m3 and wants m1. Each takes its first lock, then all go on at
// once (so every schedule deadlocks). Main waits on a channel nobody sends
// on, so nothing is left to run: deadlock_error. Returns its text; the goroutines'
// ids in *ids (a, b, c), read from their entries.
std::string three_cycle(unsigned procs, std::uint64_t* ids) {
  std::string what;
  int la = 0, lb = 0, lc = 0;
  try {
    goro::run(
        [&] {
          // On the heap, shared: at the deadlock main is unwound too, maybe
          // before the others, which still unlock these mutexes.
          struct state {
            goro::mutex m1, m2, m3;
            goro::wait_group held;
            goro::chan<int> start, never;
          };
          auto st = std::make_shared<state>();
          goro::wait_group& held = st->held;
          held.add(3);
          auto two = [st](goro::mutex& first, goro::mutex& second) {
            std::lock_guard<goro::mutex> a(first);
            st->held.done();
            (void)st->start.recv();
            std::lock_guard<goro::mutex> b(second);
          };
          la = __LINE__ + 1;
          goro::go([two, st] { two(st->m1, st->m2); });
          lb = __LINE__ + 1;
          goro::go([two, st] { two(st->m2, st->m3); });
          lc = __LINE__ + 1;
          goro::go([two, st] { two(st->m3, st->m1); });
          held.wait();
          st->start.close();
          (void)st->never.recv();
        },
        goro::config{.procs = procs});
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  ids[0] = goid(entry(what, la));
  ids[1] = goid(entry(what, lb));
  ids[2] = goid(entry(what, lc));
  return what;
}

}  // namespace

TEST_CASE("debug: a mutex cycle is printed in order", "[debug]") {
  tracebacks_on();
  auto procs = GENERATE(1u, 2u, 4u);
  std::uint64_t ids[3];
  std::string what = three_cycle(procs, ids);
  INFO(what);
  REQUIRE(what.find("all goroutines are asleep - deadlock!") == 0);
  // a -> b -> c -> a, from the lowest id.
  std::size_t lo = 0;
  for (std::size_t i = 1; i < 3; ++i)
    if (ids[i] < ids[lo]) lo = i;
  std::string want = "cycle:";
  for (std::size_t k = 0; k < 3; ++k) want += " goroutine " + std::to_string(ids[(lo + k) % 3]) + " ->";
  want += " goroutine " + std::to_string(ids[lo]) + "\n";
  CHECK(what.find(want) != std::string::npos);
  CHECK(count_of(what, "cycle:") == 1);
  CHECK(count_of(what, ", held by goroutine ") == 3);
  CHECK(count_of(what, ", locked at ") == 3);
}

TEST_CASE("debug: a deadlock that is no cycle prints none", "[debug]") {
  tracebacks_on();
  auto procs = GENERATE(1u, 2u, 4u);
  std::string what;
  int l_waiter = 0;
  try {
    goro::run(
        [&] {
          auto mu = std::make_shared<goro::mutex>();  // shared: main may be unwound first
          goro::chan<int> never;
          std::lock_guard<goro::mutex> g(*mu);
          l_waiter = __LINE__ + 1;
          goro::go([mu] { std::lock_guard<goro::mutex> g2(*mu); });
          (void)never.recv();
        },
        goro::config{.procs = procs});
  } catch (const goro::deadlock_error& e) {
    what = e.what();
  }
  INFO(what);
  REQUIRE(what.find("all goroutines are asleep - deadlock!") == 0);
  CHECK(what.find("cycle:") == std::string::npos);
  std::string e = entry(what, l_waiter);
  CHECK(blocked_at(e, l_waiter));
  CHECK(e.find(", held by goroutine ") != std::string::npos);
}
