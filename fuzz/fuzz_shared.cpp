// fuzz_shared — libFuzzer target for goro's own race detector: the input's
// first bytes build a small program of goroutines doing goro::sim::shared
// loads and stores, the rest are the scheduling decisions
// (goro::sim::run_with_choices). Each variable follows one discipline:
//   x[0]  every access under a goro::mutex
//   x[1]  every access while holding the token of a buffered channel (cap 1)
//   x[2]  stored by main before the goroutines start; goroutines only load it
//   x[3]  handed down a chain of buffered channels: goroutine i receives from
//         relay[i - 1], accesses x[3], sends on relay[i]; main receives the
//         last one and then loads x[3]
//   x[4]  stored by goroutine 0 before it calls phase.done(); the others load
//         it after phase.wait() (a wait_group)
// and main accesses every variable after wg.wait(). No goroutine blocks while
// holding anything another one waits for, so every program ends.
// A racy program adds one unsynchronized conflicting pair: an access (at least
// one a store) at the very end of two goroutines, or at the end of one and in
// main between its receive from the last relay channel and wg.wait(). Nothing
// after either access releases to the other side (a goroutine's end releases
// only to main's wait; goro counts every channel operation as a release, so
// main's access follows its last one), so no schedule orders them: they race
// in every run.
// The oracle: the detector tracks happens-before exactly, whatever the
// schedule, so a disciplined program must never fail, and a racy one must fail
// with goro::race_error, every time. A violation traps and libFuzzer keeps the
// input.
// Build (clang only): clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//   -DGORO_DETERMINISTIC=1 -I. fuzz/fuzz_shared.cpp (tools/check also builds it with TSan)
#include "goro.hpp"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace {

[[noreturn]] void violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_shared: invariant violated: %s\n%s\n", what, detail.c_str());
  __builtin_trap();
}

constexpr int nvars = 5;
constexpr int max_goroutines = 4;
constexpr int max_ops = 5;

enum class op_kind : std::uint8_t { locked, token, read_only, point, phase, relay };

struct op {
  op_kind kind;
  bool store;  // a store, else a load (x[2] and, outside goroutine 0, x[4] are only loaded)
  bool twice;  // locked and token: two accesses with a scheduling point between
};

// racy_access: the unsynchronized access a racy program appends; who = -1 is
// main (after its last release).
struct racy_access {
  int who;
  bool store;
};

struct program_desc {
  int goroutines = 0;
  std::vector<op> ops[max_goroutines];
  bool racy = false;
  int racy_var = 0;
  racy_access racers[2]{};
};

// reader: the input bytes, 0 once they run out (like run_with_choices).
struct reader {
  std::span<const std::uint8_t> in;
  std::size_t pos = 0;
  std::uint8_t next() { return pos < in.size() ? in[pos++] : 0; }
};

program_desc decode(reader& r) {
  program_desc p;
  std::uint8_t head = r.next();
  p.racy = (head & 1) != 0;
  p.goroutines = 2 + (head >> 1) % (max_goroutines - 1);
  for (int g = 0; g < p.goroutines; ++g) {
    int n = r.next() % (max_ops + 1);
    for (int i = 0; i < n; ++i) {
      std::uint8_t b = r.next();
      op o{static_cast<op_kind>(b % 5), (b & 0x10) != 0, (b & 0x20) != 0};
      if (o.kind == op_kind::read_only || (o.kind == op_kind::phase && g != 0)) o.store = false;
      p.ops[g].push_back(o);
    }
    // Exactly one relay step per goroutine, at a position the input picks.
    std::uint8_t b = r.next();
    auto at = p.ops[g].begin() + static_cast<std::ptrdiff_t>(b % (p.ops[g].size() + 1));
    p.ops[g].insert(at, op{op_kind::relay, (b & 0x80) != 0, false});
  }
  if (p.racy) {
    std::uint8_t b = r.next();
    p.racy_var = b % nvars;
    // Two distinct racers among main (-1) and the goroutines; at least one stores.
    int a = static_cast<int>((b >> 3) % static_cast<unsigned>(p.goroutines + 1)) - 1;
    int c = a + 1 + static_cast<int>((b >> 6) % static_cast<unsigned>(p.goroutines));
    if (c >= p.goroutines) c -= p.goroutines + 1;
    std::uint8_t k = r.next();
    bool first_stores = (k & 1) != 0;
    bool second_stores = (k & 2) != 0 || !first_stores;
    p.racers[0] = racy_access{a, first_stores};
    p.racers[1] = racy_access{c, second_stores};
  }
  return p;
}

struct world {
  goro::sim::shared<int> x[nvars];
  goro::mutex mu;
  goro::chan<int> token{1};
  std::vector<goro::chan<int>> relay;
  goro::wait_group phase;
  bool phase_done = false;  // goroutine 0's own flag
};

void access(goro::sim::shared<int>& v, bool store, int value) {
  if (store)
    v.store(value);
  else
    (void)v.load();
}

void goroutine_body(const program_desc& p, world& w, int g) {
  for (const op& o : p.ops[g]) {
    switch (o.kind) {
      case op_kind::locked: {
        std::lock_guard<goro::mutex> lk(w.mu);
        access(w.x[0], o.store, g);
        if (o.twice) {
          goro::sim::point();
          access(w.x[0], !o.store, g);
        }
        break;
      }
      case op_kind::token: {
        int t = *w.token.recv();
        access(w.x[1], o.store, g);
        if (o.twice) {
          goro::sim::point();
          access(w.x[1], !o.store, g);
        }
        w.token.send(t);
        break;
      }
      case op_kind::read_only: (void)w.x[2].load(); break;
      case op_kind::point: goro::sim::point(); break;
      case op_kind::phase:
        if (g == 0) {
          access(w.x[4], o.store && !w.phase_done, g);  // a store only before done()
          if (!w.phase_done) {
            w.phase_done = true;
            w.phase.done();
          }
        } else {
          w.phase.wait();
          (void)w.x[4].load();
        }
        break;
      case op_kind::relay:
        if (g > 0) (void)w.relay[static_cast<std::size_t>(g - 1)].recv();
        access(w.x[3], o.store, g);
        w.relay[static_cast<std::size_t>(g)].send(g);
        break;
    }
  }
  if (g == 0 && !w.phase_done) {
    w.phase_done = true;
    w.phase.done();
  }
  if (p.racy)
    for (const racy_access& a : p.racers)
      if (a.who == g) access(w.x[p.racy_var], a.store, 100 + g);
}

void program(const program_desc& p) {
  world w;
  w.x[2].store(42);
  w.token.send(0);
  w.phase.add(1);
  for (int g = 0; g < p.goroutines; ++g) w.relay.emplace_back(1);
  goro::wait_group wg;
  for (int g = 0; g < p.goroutines; ++g) wg.go([&p, &w, g] { goroutine_body(p, w, g); });
  (void)w.relay[static_cast<std::size_t>(p.goroutines - 1)].recv();
  (void)w.x[3].load();
  // After main's last release: goro treats a channel as one sync object (every
  // operation releases and acquires it), so a racy access before the receive
  // above would be ordered before a later send on that channel.
  if (p.racy)
    for (const racy_access& a : p.racers)
      if (a.who == -1) access(w.x[p.racy_var], a.store, -1);
  wg.wait();
  for (auto& v : w.x) v.store(v.load() + 1);
}

std::string describe(const program_desc& p) {
  static const char* names[] = {"locked", "token", "read_only", "point", "phase", "relay"};
  std::string s = p.racy ? "racy program" : "disciplined program";
  for (int g = 0; g < p.goroutines; ++g) {
    s += "\n  goroutine " + std::to_string(g) + ":";
    for (const op& o : p.ops[g]) {
      s += " ";
      s += names[static_cast<int>(o.kind)];
      s += o.store ? "/store" : "/load";
    }
  }
  if (p.racy)
    for (const racy_access& a : p.racers)
      s += "\n  unsynchronized " + std::string(a.store ? "store" : "load") + " of x[" + std::to_string(p.racy_var) + "] by " +
           (a.who < 0 ? std::string("main") : "goroutine " + std::to_string(a.who));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r{std::span<const std::uint8_t>(data, size)};
  program_desc p = decode(r);
  auto choices = r.in.subspan(r.pos);
  try {
    goro::sim::run_with_choices(choices, [&p] { program(p); });
  } catch (const goro::race_error& e) {
    if (!p.racy) violated("race_error on a program whose accesses are all synchronized", describe(p) + "\n" + e.what());
    return 0;
  } catch (const std::exception& e) {
    violated("the run failed", describe(p) + "\n" + e.what());
  }
  if (p.racy) violated("a racy program ran without race_error", describe(p));
  return 0;
}
