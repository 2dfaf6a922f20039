// goro::select: ports of the behaviours of Go's select tests
// (runtime/chan_test.go: TestSelfSelect, TestSelectStress, TestSelectFairness,
// TestPseudoRandomSend, TestSelectDuplicateChannel, TestNonblock*Race;
// test/chan/select*.go, doubleselect.go) and the select contract of
// docs/reference.md ("Select"): uniform choice among ready cases, nil never
// ready, closed ready for receive, send on closed throws, handlers outside
// runtime locks, duplicate channels, the returned index, wake-up by any channel
// with the other queues left, the fate of send_case values, and temporary
// handles.
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through channels,
// atomics or test-scope variables. Goroutines left blocked until main returns
// (and then unwound) touch only values they own or test-scope variables.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// counted: counts its live instances (send_case values must be destroyed
// exactly once, whether their case is taken or not).
struct counted {
  static inline std::atomic<long> live{0};
  int v = 0;
  explicit counted(int x) noexcept : v(x) { live.fetch_add(1); }
  counted(const counted& o) noexcept : v(o.v) { live.fetch_add(1); }
  counted(counted&& o) noexcept : v(o.v) { live.fetch_add(1); }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) = default;
  ~counted() { live.fetch_sub(1); }
};

struct exit_guard {
  std::atomic<int>* n;
  ~exit_guard() { n->fetch_add(1); }
};

// recv_within: true if done delivers (a value or its close) within d; the
// value received goes to *out. A sleeper goroutine is the clock; it is unwound
// when main returns.
template <class T>
bool recv_within(const goro::chan<T>& done, std::chrono::milliseconds d, std::optional<T>* out = nullptr) {
  goro::chan<bool> timeout(1);
  goro::go([timeout, d] {
    goro::sleep_for(d);
    timeout.try_send(true);
  });
  bool got = false;
  goro::select(goro::recv_case(done,
                               [&](std::optional<T> v) {
                                 got = true;
                                 if (out != nullptr) *out = std::move(v);
                               }),
               goro::recv_case(timeout, [](auto) {}));
  return got;
}

// returns_within: runs f in a goroutine; true if it returns within d. f is
// copied into the goroutine (it may stay blocked until main returns).
template <class F>
bool returns_within(F f, std::chrono::milliseconds d) {
  goro::chan<int> done(1);
  goro::go([f, done]() mutable {
    f();
    done.try_send(1);
  });
  return recv_within(done, d);
}

constexpr auto never_blocks = 10000ms;  // generous: loaded CI machines and sanitizers
constexpr auto blocks_for = 5ms;        // "always blocks": still blocked after this long

// keep_checkdead_off: a goroutine that wakes every 10 ms until main returns
// (it is then unwound). A pending timer keeps threaded checkdead from calling a
// deadlock while a plain thread is between two goro calls (see chan_test.cpp).
void keep_checkdead_off() {
  goro::go([] {
    for (;;) goro::sleep_for(10ms);
  });
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

}  // namespace

// send_case's value is a std::type_identity_t<T>: not deduced, converted
// (this must compile; the tests below also run it).
[[maybe_unused]] static auto send_case_long(goro::chan<long> c) { return goro::send_case(c, 1, [] {}); }

// ---------------------------------------------------------------------------
// The returned index is the case's position among the arguments, default
// included; default runs only when nothing is ready; a select of nil channels
// and a default takes the default.
TEST_CASE("select: returns the position of the case taken, default included", "[select]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [&] {
        goro::chan<int> ready(1), empty(1), nil = nullptr;
        ready.send(7);
        int got = 0;
        bool dflt = false;
        CHECK(goro::select(goro::default_case([&] { dflt = true; }), goro::recv_case(ready, [&](std::optional<int> v) { got = *v; })) == 1);
        CHECK(got == 7);
        CHECK_FALSE(dflt);
        CHECK(goro::select(goro::recv_case(empty, [](auto) {}), goro::default_case([&] { dflt = true; })) == 1);
        CHECK(dflt);
        dflt = false;
        CHECK(goro::select(goro::default_case([&] { dflt = true; }), goro::recv_case(empty, [](auto) {})) == 0);
        CHECK(dflt);
        CHECK(goro::select(goro::default_case([] {})) == 0);
        CHECK(goro::select(goro::recv_case(nil, [](auto) {}), goro::send_case(nil, 1, [] {}), goro::default_case([] {})) == 2);
        // Three non-ready cases then a ready one.
        ready.send(8);
        CHECK(goro::select(goro::recv_case(empty, [](auto) {}), goro::recv_case(nil, [](auto) {}), goro::send_case(nil, 3, [] {}),
                           goro::recv_case(ready, [&](std::optional<int> v) { got = *v; }), goro::default_case([] {})) == 3);
        CHECK(got == 8);
        // A send case.
        CHECK(goro::select(goro::recv_case(empty, [](auto) {}), goro::send_case(empty, 9, [] {})) == 1);
        CHECK(empty.recv() == 9);
        // send_case(chan<long>, 1, ...): the int converts; likewise for other types.
        goro::chan<long> cl(1);
        goro::chan<std::string> cs(1);
        goro::chan<double> cd(1);
        CHECK(goro::select(goro::send_case(cl, 1, [] {})) == 0);
        CHECK(goro::select(goro::send_case(cs, "text", [] {})) == 0);
        CHECK(goro::select(goro::send_case(cd, 2, [] {})) == 0);
        CHECK(cl.recv() == 1L);
        CHECK(cs.recv() == std::string("text"));
        CHECK(cd.recv() == 2.0);
      },
      goro::config{.procs = procs});
}

// Uniform choice among ready cases (docs/reference.md, "Select"; Go's selectgo
// poll order): K ready cases, each taken about 1/K of the time. Chi-square with
// a generous bound (p < 1e-6 for every K used), and no case below half its
// share.
namespace {
template <bool Mixed, std::size_t K>
std::array<long, K> fairness_counts(int trials, long& wrong) {
  std::array<long, K> counts{};
  std::array<goro::chan<int>, K> cs;
  for (std::size_t i = 0; i < K; ++i) {
    cs[i] = goro::chan<int>(1);
    if (!(Mixed && i % 2 == 1)) cs[i].send(static_cast<int>(i));  // recv cases start full, send cases empty
  }
  for (int t = 0; t < trials; ++t) {
    int got = -1;
    std::size_t idx = [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto make = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        if constexpr (Mixed && J % 2 == 1)
          return goro::send_case(cs[J], static_cast<int>(J), [&] { got = static_cast<int>(J); });
        else
          return goro::recv_case(cs[J], [&](std::optional<int> v) { got = v.value_or(-1); });
      };
      return goro::select(make(std::integral_constant<std::size_t, I>{})..., goro::default_case([&] { got = -2; }));
    }(std::make_index_sequence<K>{});
    if (idx >= K || got != static_cast<int>(idx)) {
      ++wrong;
      continue;
    }
    ++counts[idx];
    if (Mixed && idx % 2 == 1) (void)cs[idx].recv();  // empty it again
    else cs[idx].send(static_cast<int>(idx));         // refill
  }
  return counts;
}

template <std::size_t K>
double chi_square(const std::array<long, K>& counts, int trials) {
  double e = static_cast<double>(trials) / K, x = 0;
  for (long c : counts) x += (c - e) * (c - e) / e;
  return x;
}

template <std::size_t K>
long min_count(const std::array<long, K>& counts) {
  long m = counts[0];
  for (long c : counts) m = std::min(m, c);
  return m;
}
}  // namespace

TEST_CASE("select: picks uniformly at random among ready cases", "[select][fairness]") {
  auto procs = GENERATE(1u, 2u, 4u);
  double chi2[5] = {};
  long mins[5] = {}, wrong = 0;
  int trials[5] = {2 * 2000, 3 * 2000, 4 * 2000, 8 * 2000, 4 * 2000};
  goro::run(
      [&] {
        auto c2 = fairness_counts<false, 2>(trials[0], wrong);
        auto c3 = fairness_counts<false, 3>(trials[1], wrong);
        auto c4 = fairness_counts<false, 4>(trials[2], wrong);
        auto c8 = fairness_counts<false, 8>(trials[3], wrong);
        auto m4 = fairness_counts<true, 4>(trials[4], wrong);  // 2 ready receives, 2 ready sends
        chi2[0] = chi_square(c2, trials[0]);
        chi2[1] = chi_square(c3, trials[1]);
        chi2[2] = chi_square(c4, trials[2]);
        chi2[3] = chi_square(c8, trials[3]);
        chi2[4] = chi_square(m4, trials[4]);
        mins[0] = min_count(c2) * 2 * 2;
        mins[1] = min_count(c3) * 3 * 2;
        mins[2] = min_count(c4) * 4 * 2;
        mins[3] = min_count(c8) * 8 * 2;
        mins[4] = min_count(m4) * 4 * 2;
      },
      goro::config{.procs = procs});
  CHECK(wrong == 0);  // a ready case was always taken, and the right handler ran
  for (int k = 0; k < 5; ++k) {
    INFO("configuration " << k << ": chi-square " << chi2[k]);
    CHECK(chi2[k] < 50.0);
    CHECK(mins[k] > trials[k]);  // every case got over half its share
  }
}

// Go: TestSelectFairness. Two always-ready buffered channels and two never-ready
// ones in one select, in a goroutine that passes what it got to the test: the
// two ready channels are chosen equally often, within 10 sigma.
TEST_CASE("select: Go TestSelectFairness", "[select][fairness]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int trials = 10000;
  int cnt1 = 0, cnt2 = 0, other = 0;
  goro::run(
      [&] {
        goro::chan<unsigned char> c1(trials + 1), c2(trials + 1), c3, c4, out, done;
        for (int i = 0; i < trials + 1; ++i) {
          c1.send(1);
          c2.send(2);
        }
        goro::wait_group wg;
        wg.go([=] {
          for (;;) {
            unsigned char b = 0;
            auto take = [&](std::optional<unsigned char> v) { b = v.value_or(0); };
            goro::select(goro::recv_case(c3, take), goro::recv_case(c4, take), goro::recv_case(c1, take), goro::recv_case(c2, take));
            if (goro::select(goro::send_case(out, b, [] {}), goro::recv_case(done, [](auto) {})) == 1) return;
          }
        });
        for (int i = 0; i < trials; ++i) {
          switch (*out.recv()) {
            case 1: ++cnt1; break;
            case 2: ++cnt2; break;
            default: ++other;
          }
        }
        done.close();
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(other == 0);
  double r = static_cast<double>(cnt1) / trials, e = std::abs(r - 0.5);
  INFO("cnt1 " << cnt1 << " cnt2 " << cnt2);
  CHECK(e <= 10 * std::sqrt(0.25 / trials));
}

// Go: TestPseudoRandomSend. A select of two sends of 1 and 0 on the same
// channel, to a receiver that yields between receives: both values show up.
namespace {
void pseudo_random_send(unsigned procs, int cap, int& n0, int& n1) {
  static constexpr int n = 100;
  goro::run(
      [&] {
        goro::chan<int> c(cap);
        goro::chan<std::vector<int>> result;
        goro::go([c, result] {
          std::vector<int> l(n);
          for (int i = 0; i < n; ++i) {
            goro::yield();
            l[i] = *c.recv();
          }
          result.send(std::move(l));
        });
        for (int i = 0; i < n; ++i) goro::select(goro::send_case(c, 1, [] {}), goro::send_case(c, 0, [] {}));
        auto l = *result.recv();  // not `: *result.recv()`: the optional would die before the loop
        for (int v : l) {
          n0 += (v + 1) % 2;
          n1 += v;
        }
      },
      goro::config{.procs = procs});
}
}  // namespace

TEST_CASE("select: Go TestPseudoRandomSend, buffered", "[select][fairness]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int n0 = 0, n1 = 0;
  pseudo_random_send(procs, 100, n0, n1);
  INFO(n0 << " zeros, " << n1 << " ones");
  CHECK(n0 > 10);
  CHECK(n1 > 10);
}

// Go: TestPseudoRandomSend, chanCap 0. The select parks (the receiver is
// yielding) with both send cases queued on the same channel; the receiver then
// takes one of them, and Go picks either at random (its lock order sorts
// equal channels in random poll order). goro sorts the lock order by
// (channel, case index), so the sudogs are queued in case order and the first
// case always wins: 0 zeros, 100 ones. The same holds for a parked select with
// two receive cases on one channel. (Fix: break ties in the lock order by
// poll-order position, e.g. a stable sort of the poll order by channel.)
TEST_CASE("select: Go TestPseudoRandomSend, unbuffered: duplicate cases of a parked select win at random", "[select][fairness]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int n0 = 0, n1 = 0;
  pseudo_random_send(procs, 0, n0, n1);
  {
    INFO("send cases: " << n0 << " zeros, " << n1 << " ones");
    CHECK(n0 > 10);
    CHECK(n1 > 10);
  }
  // Two receive cases on one unbuffered channel, parked, then a sender.
  int first = 0, second = 0;
  goro::run(
      [&] {
        goro::chan<int> c;
        goro::chan<std::size_t> idx(1);
        for (int i = 0; i < 200; ++i) {
          goro::go([c, idx] { idx.send(goro::select(goro::recv_case(c, [](auto) {}), goro::recv_case(c, [](auto) {}))); });
          goro::yield();
          c.send(i);
          (*idx.recv() == 0 ? first : second)++;
        }
      },
      goro::config{.procs = procs});
  INFO("receive cases: first " << first << ", second " << second);
  CHECK(first > 20);
  CHECK(second > 20);
}

// Nil channels are never ready; a closed channel is always ready for receive
// (handler gets nullopt); a send case on a closed channel throws
// closed_channel when it is the one chosen, also after the select parked.
TEST_CASE("select: nil never ready, closed ready for receive, send on closed throws", "[select][close]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  long nil_taken = 0, closed_value = 0, closed_missed = 0, recv_won = 0, threw = 0, parked_threw = 0, other = 0;
  goro::run(
      [&] {
        goro::chan<int> nil = nullptr, closed(2), never;
        closed.close();
        for (int i = 0; i < 500; ++i) {
          std::optional<int> got = 5;
          std::size_t k = goro::select(goro::recv_case(nil, [&](auto) { ++nil_taken; }), goro::send_case(nil, 1, [&] { ++nil_taken; }),
                                       goro::recv_case(never, [](auto) {}), goro::recv_case(closed, [&](std::optional<int> v) { got = v; }),
                                       goro::default_case([] {}));
          if (k != 3) ++closed_missed;
          if (got) ++closed_value;
        }
        // A ready receive and a send on a closed channel: either the receive
        // is taken or the select throws, at random.
        goro::chan<int> ready(1);
        goro::chan<counted> closed_c(1);
        closed_c.close();
        for (int i = 0; i < 400; ++i) {
          if (ready.size() == 0) ready.send(1);
          try {
            std::size_t k = goro::select(goro::recv_case(ready, [](auto) {}), goro::send_case(closed_c, counted(i), [] {}));
            k == 0 ? ++recv_won : ++other;
          } catch (const goro::closed_channel&) {
            ++threw;
          }
        }
        // A parked select whose send channel is closed under it throws.
        for (int i = 0; i < 20; ++i) {
          goro::chan<counted> s;
          goro::chan<int> r;
          goro::chan<int> res(1);
          goro::go([s, r, res, i] {
            try {
              goro::select(goro::recv_case(r, [](auto) {}), goro::send_case(s, counted(i), [] {}));
              res.send(0);
            } catch (const goro::closed_channel&) {
              res.send(1);
            }
          });
          if (i % 2 == 0) goro::sleep_for(200us);
          s.close();
          parked_threw += *res.recv();
        }
      },
      goro::config{.procs = procs});
  CHECK(nil_taken == 0);
  CHECK(closed_missed == 0);
  CHECK(closed_value == 0);
  CHECK(other == 0);
  CHECK(recv_won > 40);
  CHECK(threw > 40);
  CHECK(parked_threw == 20);
  CHECK(counted::live.load() == base);
}

// Handlers run after the channel operation, outside every runtime lock: a
// handler may use the same channel again, run a nested select on it, or block.
TEST_CASE("select: handlers run outside runtime locks", "[select]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int after_recv_handler = 0, send_handler_got = 0, nested = 0, relayed = 0, blocking = 0;
  goro::run(
      [&] {
        goro::chan<int> c(1);
        c.send(1);
        // A receive handler sends on the same channel.
        goro::select(goro::recv_case(c, [&](std::optional<int> v) { c.send(*v + 1); }));
        after_recv_handler = *c.recv();
        // A send handler receives from the same channel.
        goro::select(goro::send_case(c, 5, [&] { send_handler_got = *c.recv(); }));
        // A nested select on the same channel inside a handler.
        c.send(7);
        goro::select(goro::recv_case(c, [&](std::optional<int> v) {
          goro::select(goro::send_case(c, *v * 2, [] {}), goro::default_case([] {}));
        }));
        nested = *c.recv();
        // Unbuffered: the handler hands a value to another goroutine parked
        // on the same channel.
        goro::chan<int> u, back(1);
        goro::go([u, back] {
          u.send(1);
          back.send(*u.recv());
        });
        goro::select(goro::recv_case(u, [&](std::optional<int> v) { u.send(*v + 10); }));
        relayed = *back.recv();
        // A handler that parks (waits for another goroutine through the
        // same channels).
        goro::chan<int> a, b;
        goro::go([a, b] {
          a.send(1);
          b.send(*b.recv() + 1);
        });
        goro::select(goro::recv_case(a, [&](std::optional<int> v) {
          b.send(*v + 1);
          blocking = *b.recv();
        }));
      },
      goro::config{.procs = procs});
  CHECK(after_recv_handler == 2);
  CHECK(send_handler_got == 5);
  CHECK(nested == 14);
  CHECK(relayed == 11);
  CHECK(blocking == 3);
}

// The same channel may appear in several cases: ready duplicates are chosen
// about equally often; a parked select on duplicates is woken once.
TEST_CASE("select: the same channel in several cases", "[select][duplicate]") {
  auto procs = GENERATE(1u, 2u, 4u);
  long first = 0, second = 0, sr_send = 0, sr_recv = 0, wrong = 0;
  int dup_got = 0, dup_other_empty = 1;
  goro::run(
      [&] {
        goro::chan<int> c(1);
        for (int i = 0; i < 2000; ++i) {
          c.send(i);
          int got = -1;
          std::size_t k = goro::select(goro::recv_case(c, [&](std::optional<int> v) { got = *v; }),
                                       goro::recv_case(c, [&](std::optional<int> v) { got = *v; }));
          if (got != i) ++wrong;
          (k == 0 ? first : second)++;
        }
        // A send and a receive case on one buffered channel holding one value
        // of two slots: both ready.
        goro::chan<int> d(2);
        d.send(0);
        for (int i = 0; i < 2000; ++i) {
          std::size_t k = goro::select(goro::send_case(d, 1, [] {}), goro::recv_case(d, [](auto) {}));
          if (k == 0) {
            ++sr_send;
            (void)d.recv();
          } else {
            ++sr_recv;
            d.send(0);
          }
          if (d.size() != 1) ++wrong;
        }
        // A parked select listing an unbuffered channel twice, plus a
        // duplicated send case: one value is delivered, once.
        goro::chan<int> u, v;
        goro::chan<int> res(1);
        goro::go([u, v, res] {
          int got = -1;
          goro::select(goro::recv_case(u, [&](std::optional<int> x) { got = *x; }), goro::recv_case(u, [&](std::optional<int> x) { got = *x; }),
                       goro::send_case(v, 1, [&] { got = 100; }), goro::send_case(v, 2, [&] { got = 200; }));
          res.send(got);
        });
        goro::sleep_for(500us);
        u.send(42);
        dup_got = *res.recv();
        dup_other_empty = v.try_recv().has_value() ? 0 : 1;
      },
      goro::config{.procs = procs});
  CHECK(wrong == 0);
  CHECK(first > 600);
  CHECK(second > 600);
  CHECK(sr_send > 600);
  CHECK(sr_recv > 600);
  CHECK(dup_got == 42);
  CHECK(dup_other_empty == 1);
}

// Go: TestSelectDuplicateChannel. A select parked twice on c (and on d) is
// woken through d and must leave c's queue cleanly: a later receiver parked on
// c still gets the next send.
TEST_CASE("select: Go TestSelectDuplicateChannel", "[select][duplicate]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int b_got = 0;
  bool b_done = false;
  goro::run(
      [&] {
        goro::chan<int> c, d, e, bres(1);
        goro::go([c, d, e] {
          goro::select(goro::recv_case(c, [](auto) {}), goro::recv_case(c, [](auto) {}), goro::recv_case(d, [](auto) {}));
          e.send(9);
        });
        goro::sleep_for(1ms);  // A queues on c first
        goro::go([c, bres] { bres.send(*c.recv()); });
        goro::sleep_for(1ms);  // B queues on c behind A
        d.send(7);             // wakes A, which leaves c's queue
        (void)e.recv();
        c.send(8);  // must wake B
        std::optional<int> v;
        b_done = recv_within(bres, 10s, &v);
        if (b_done) b_got = v.value_or(-1);
      },
      goro::config{.procs = procs});
  CHECK(b_done);
  CHECK(b_got == 8);
}

// A blocked select waits on all its channels at once and is woken by whichever
// becomes ready: a send to one of its receive cases, a receive from one of its
// send cases (plain or from another select), or a close. Afterwards it is on no
// other queue: after the goroutine has parked in a second select, a
// non-blocking send to an unbuffered channel of the first select finds no
// receiver (a stale entry there would now match the second select), and a
// non-blocking receive finds no sender. The losing send values are destroyed.
TEST_CASE("select: a parked select is woken by any of its channels and leaves the other queues", "[select][wakeup]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  std::vector<std::string> errs;
  goro::run(
      [&] {
        for (int which = 0; which < 4; ++which) {
          for (int how = 0; how < 3; ++how) {  // 0: plain operation, 1: close, 2: from another select
            auto fail = [&](const std::string& what) {
              errs.push_back("case " + std::to_string(which) + " how " + std::to_string(how) + ": " + what);
            };
            goro::chan<int> r0, r1;
            goro::chan<counted> s0, s1;
            goro::chan<int> next;
            goro::chan<std::pair<std::size_t, int>> result(1);
            goro::chan<int> result2(1);
            goro::go([=] {
              int got = -1;
              std::size_t i;
              try {
                i = goro::select(goro::recv_case(r0, [&](std::optional<int> v) { got = v.value_or(-2); }),
                                 goro::recv_case(r1, [&](std::optional<int> v) { got = v.value_or(-2); }),
                                 goro::send_case(s0, counted(10), [&] { got = 10; }), goro::send_case(s1, counted(11), [&] { got = 11; }));
              } catch (const goro::closed_channel&) {
                i = 99;
              }
              result.send({i, got});
              // Park again, in a select on another channel.
              int got2 = -1;
              goro::select(goro::recv_case(next, [&](std::optional<int> v) { got2 = v.value_or(-2); }));
              result2.send(got2);
            });
            goro::sleep_for(300us);  // let it park (if it has not, the outcome is the same)
            goro::chan<int> rs[2] = {r0, r1};
            goro::chan<counted> ss[2] = {s0, s1};
            int from_send = -1;
            if (which < 2) {
              if (how == 0) rs[which].send(40 + which);
              else if (how == 1) rs[which].close();
              else goro::select(goro::send_case(rs[which], 40 + which, [] {}));
            } else {
              if (how == 0) {
                auto v = ss[which - 2].recv();
                from_send = v ? v->v : -1;
              } else if (how == 1) {
                ss[which - 2].close();
              } else {
                goro::select(goro::recv_case(ss[which - 2], [&](std::optional<counted> v) { from_send = v ? v->v : -1; }));
              }
            }
            auto [i, got] = *result.recv();
            std::size_t want_i = (which >= 2 && how == 1) ? 99 : static_cast<std::size_t>(which);
            int want_got = which < 2 ? (how == 1 ? -2 : 40 + which) : (how == 1 ? -1 : 10 + which - 2);
            if (i != want_i) fail("woke case " + std::to_string(i));
            if (got != want_got) fail("handler got " + std::to_string(got));
            if (which >= 2 && how != 1 && from_send != 10 + which - 2) fail("receiver got " + std::to_string(from_send));
            goro::sleep_for(300us);  // let it park in the second select
            for (int k = 0; k < 2; ++k) {
              bool closed_one = how == 1 && which == k;
              if (!closed_one && rs[k].try_send(1)) fail("stale receiver left on r" + std::to_string(k));
              bool closed_s = how == 1 && which == k + 2;
              if (!closed_s && ss[k].try_recv().has_value()) fail("stale sender left on s" + std::to_string(k));
            }
            next.send(5);
            if (result2.recv() != 5) fail("second select got the wrong value");
          }
        }
      },
      goro::config{.procs = procs});
  INFO(join(errs));
  CHECK(errs.empty());
  CHECK(counted::live.load() == base);
}

// send_case owns its value: it is moved into the channel when the case is
// taken and destroyed when another case (or the default) is taken.
TEST_CASE("select: a send case's value is destroyed when another case is taken", "[select][lifetime]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  long after_losing = -1, after_default = -1, after_taken = -1, after_drain = -1, after_parked = -1;
  goro::run(
      [&] {
        goro::chan<counted> full(1);
        full.send(counted(0));  // a send case on it is never ready
        goro::chan<int> ready(1);
        for (int i = 0; i < 100; ++i) {
          ready.send(1);
          goro::select(goro::send_case(full, counted(1), [] {}), goro::recv_case(ready, [](auto) {}));
        }
        after_losing = counted::live.load() - base;  // only the buffered one
        for (int i = 0; i < 100; ++i) goro::select(goro::send_case(full, counted(2), [] {}), goro::default_case([] {}));
        after_default = counted::live.load() - base;
        goro::chan<counted> room(1);
        goro::select(goro::send_case(room, counted(3), [] {}), goro::default_case([] {}));
        after_taken = counted::live.load() - base;  // buffered in full and in room
        (void)room.recv();
        after_drain = counted::live.load() - base;
        // A parked select with three send cases, woken by a receive from one.
        goro::chan<counted> a, b, c;
        goro::chan<int> done(1);
        goro::go([a, b, c, done] {
          goro::select(goro::send_case(a, counted(4), [] {}), goro::send_case(b, counted(5), [] {}), goro::send_case(c, counted(6), [] {}));
          done.send(1);
        });
        goro::sleep_for(300us);
        (void)b.recv();
        (void)done.recv();
        after_parked = counted::live.load() - base;
      },
      goro::config{.procs = procs});
  CHECK(after_losing == 1);
  CHECK(after_default == 1);
  CHECK(after_taken == 2);
  CHECK(after_drain == 1);
  CHECK(after_parked == 1);
  CHECK(counted::live.load() == base);
}

// Cases take the handle by value: a temporary returned by a function works,
// ready or parked on (its last handle is then the case's).
TEST_CASE("select: on temporary handles returned by functions", "[select][lifetime]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int got = 0, parked_idx = -1, parked_got = 0;
  std::size_t sent_idx = 9;
  goro::run(
      [&] {
        auto ready_chan = [](int v) {
          goro::chan<int> c(1);
          c.send(v);
          return c;
        };
        goro::select(goro::recv_case(ready_chan(5), [&](std::optional<int> v) { got = *v; }));
        sent_idx = goro::select(goro::recv_case(goro::chan<int>(), [](auto) {}), goro::send_case(goro::chan<int>(1), 3, [] {}));
        goro::chan<int> real;
        goro::go([real] {
          goro::sleep_for(500us);
          real.send(6);
        });
        parked_idx = static_cast<int>(goro::select(goro::recv_case(goro::chan<int>(), [](auto) {}), goro::send_case(goro::chan<int>(), 1, [] {}),
                                                   goro::recv_case(real, [&](std::optional<int> v) { parked_got = *v; })));
      },
      goro::config{.procs = procs});
  CHECK(got == 5);
  CHECK(sent_idx == 1);
  CHECK(parked_idx == 2);
  CHECK(parked_got == 6);
}

// Go: TestSelfSelect. Two goroutines each select between sending to and
// receiving from the same channel (in both case orders): no crash, no
// deadlock, and on an unbuffered channel no goroutine receives its own value.
TEST_CASE("select: Go TestSelfSelect", "[select]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> self_receive{0};
  bool finished[2] = {};
  goro::wait_group wgs[2];  // test scope: goroutines stuck on failure are unwound after main returns
  goro::run(
      [&] {
        for (int k = 0; k < 2; ++k) {
          int cap = k == 0 ? 0 : 10;
          goro::chan<int> c(cap);
          goro::wait_group& wg = wgs[k];
          for (int p = 0; p < 2; ++p) {
            wg.go([c, p, cap, &self_receive] {
              for (int i = 0; i < 1000; ++i) {
                auto on_recv = [&](std::optional<int> v) {
                  if (cap == 0 && v == p) ++self_receive;
                };
                if (p == 0 || i % 2 == 0)
                  goro::select(goro::send_case(c, p, [] {}), goro::recv_case(c, on_recv));
                else
                  goro::select(goro::recv_case(c, on_recv), goro::send_case(c, p, [] {}));
              }
            });
          }
          goro::chan<int> done(1);
          goro::go([&wg, done] {
            wg.wait();
            done.send(1);
          });
          finished[k] = recv_within(done, 20s);
          if (!finished[k]) return;  // the stuck goroutines are unwound
        }
      },
      goro::config{.procs = procs});
  CHECK(finished[0]);
  CHECK(finished[1]);
  CHECK(self_receive.load() == 0);
}

// Go: TestSelectStress. Four channels (two unbuffered, capacities 2 and 3);
// per channel a sender and a receiver of N values; plus one goroutine sending N
// values on each channel in one select and one receiving N from each in one
// select, dropping (niling) a channel from its select once done with it. All of
// it must finish, and every count must add up.
TEST_CASE("select: Go TestSelectStress", "[select][stress]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int N = static_cast<int>(goro_test::scale(20000));
  bool finished = false;
  std::array<int, 4> sel_sent{}, sel_recv{};
  goro::wait_group wg;  // test scope: goroutines stuck on failure are unwound after main returns
  goro::run(
      [&] {
        std::array<goro::chan<int>, 4> c = {goro::chan<int>(), goro::chan<int>(), goro::chan<int>(2), goro::chan<int>(3)};
        for (int k = 0; k < 4; ++k) {
          wg.go([ck = c[k], N] {
            for (int i = 0; i < N; ++i) ck.send(0);
          });
          wg.go([ck = c[k], N] {
            for (int i = 0; i < N; ++i) (void)ck.recv();
          });
        }
        wg.go([c, N, &sel_sent] {
          auto c1 = c;
          std::array<int, 4> n{};
          for (int i = 0; i < 4 * N; ++i) {
            auto sent = [&](int k) {
              return [&, k] {
                if (++n[k] == N) c1[k] = nullptr;
              };
            };
            goro::select(goro::send_case(c1[3], 0, sent(3)), goro::send_case(c1[2], 0, sent(2)), goro::send_case(c1[0], 0, sent(0)),
                         goro::send_case(c1[1], 0, sent(1)));
          }
          sel_sent = n;
        });
        wg.go([c, N, &sel_recv] {
          auto c1 = c;
          std::array<int, 4> n{};
          for (int i = 0; i < 4 * N; ++i) {
            auto got = [&](int k) {
              return [&, k](std::optional<int>) {
                if (++n[k] == N) c1[k] = nullptr;
              };
            };
            goro::select(goro::recv_case(c1[0], got(0)), goro::recv_case(c1[1], got(1)), goro::recv_case(c1[2], got(2)),
                         goro::recv_case(c1[3], got(3)));
          }
          sel_recv = n;
        });
        goro::chan<int> done(1);
        goro::go([&wg, done] {
          wg.wait();
          done.send(1);
        });
        finished = recv_within(done, 60s);
      },
      goro::config{.procs = procs});
  REQUIRE(finished);
  for (int k = 0; k < 4; ++k) {
    CHECK(sel_sent[k] == N);
    CHECK(sel_recv[k] == N);
  }
}

// Go: TestNonblockRecvRace. A select with a receive and a default, racing with
// close on a channel that holds a value: the receive case is always ready
// (value or closed), so the default is never taken.
TEST_CASE("select: Go TestNonblockRecvRace", "[select][race]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(5000));
  std::atomic<int> not_ready{0};
  goro::run(
      [&] {
        goro::wait_group wg;
        for (int i = 0; i < n; ++i) {
          goro::chan<int> c(1);
          c.send(1);
          wg.go([c, &not_ready] { goro::select(goro::recv_case(c, [](auto) {}), goro::default_case([&] { ++not_ready; })); });
          c.close();
          (void)c.recv();
        }
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(not_ready.load() == 0);
}

// Go: TestNonblockSelectRace and TestNonblockSelectRace2. A select acts on the
// channels' state at one moment: from the goroutine's creation on, c1 or c2
// is always ready, so its non-blocking select never takes the default. (c2
// becomes ready by a send, or in the second test by close.)
TEST_CASE("select: Go TestNonblockSelectRace and TestNonblockSelectRace2", "[select][race]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(10000));
  int defaults[2] = {};
  goro::run(
      [&] {
        goro::chan<bool> done(1);
        for (int variant = 0; variant < 2; ++variant) {
          for (int i = 0; i < n; ++i) {
            goro::chan<int> c1(1);
            goro::chan<int> c2 = variant == 0 ? goro::chan<int>(1) : goro::chan<int>();
            c1.send(1);
            goro::go([c1, c2, done] {
              bool ok = true;
              goro::select(goro::recv_case(c1, [](auto) {}), goro::recv_case(c2, [](auto) {}), goro::default_case([&] { ok = false; }));
              done.send(ok);
            });
            if (variant == 0) c2.send(1);
            else c2.close();
            goro::select(goro::recv_case(c1, [](auto) {}), goro::default_case([] {}));
            if (!*done.recv()) ++defaults[variant];
          }
        }
      },
      goro::config{.procs = procs});
  CHECK(defaults[0] == 0);
  CHECK(defaults[1] == 0);
}

// Go: test/chan/select.go. Every case's value is computed on each select,
// nil cases included (C++ evaluates the arguments), and a case whose channel a
// handler set to nil drops out of the next select.
TEST_CASE("select: case values are evaluated for every case, niled cases drop out (Go test/chan/select.go)", "[select]") {
  int sent_ab = 0, sent_a = 0;
  unsigned av_bv = 0, counter = 0;
  goro::run([&] {
    unsigned shift = 0;
    auto get_value = [&] {
      ++counter;
      return 1u << shift;
    };
    auto send = [&](goro::chan<unsigned> a, goro::chan<unsigned> b) {
      int i = 0;
      for (;;) {
        bool stop = false;
        goro::select(goro::send_case(a, get_value(),
                                     [&] {
                                       ++i;
                                       a = nullptr;
                                     }),
                     goro::send_case(b, get_value(),
                                     [&] {
                                       ++i;
                                       b = nullptr;
                                     }),
                     goro::default_case([&] { stop = true; }));
        if (stop) break;
        ++shift;
      }
      return i;
    };
    goro::chan<unsigned> a(1), b(1);
    sent_ab = send(a, b);
    av_bv = *a.recv() | *b.recv();
    sent_a = send(a, nullptr);
  });
  CHECK(sent_ab == 2);
  CHECK(av_bv == 3);
  CHECK(sent_a == 1);
  CHECK(counter == 10);
}

// Go: test/chan/select3.go. Which operations and selects always block and
// which never do; which throw.
TEST_CASE("select: blocking and non-blocking basics (Go test/chan/select3.go)", "[select]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::string> errs;
  goro::run(
      [&] {
        goro::chan<int> nilch = nullptr;
        goro::chan<int> closedch;
        closedch.close();
        auto always = [&](const char* what, auto f) {
          if (returns_within(f, blocks_for)) errs.push_back(std::string("did not block: ") + what);
        };
        auto never = [&](const char* what, auto f) {
          if (!returns_within(f, never_blocks)) errs.push_back(std::string("blocked: ") + what);
        };
        // Sending to or receiving from a nil channel blocks.
        always("nil send", [nilch] { nilch.send(7); });
        always("nil recv", [nilch] { (void)nilch.recv(); });
        // A nil channel in a select is never selected.
        bool unreachable = false;
        goro::select(goro::send_case(nilch, 7, [&] { unreachable = true; }), goro::default_case([] {}));
        goro::select(goro::recv_case(nilch, [&](auto) { unreachable = true; }), goro::default_case([] {}));
        if (unreachable) errs.push_back("nil case selected");
        // Sending to a channel with free buffer space never blocks.
        never("buffered send", [] { goro::chan<int>(1).send(7); });
        // Receiving from a closed channel never blocks.
        never("closed recv", [closedch] {
          for (int i = 0; i < 10; ++i)
            if (closedch.recv()) throw std::logic_error("value from closed channel");
        });
        // Sending to a closed channel throws.
        try {
          closedch.send(7);
          errs.push_back("send on closed did not throw");
        } catch (const goro::closed_channel&) {
        }
        // Receiving from a non-ready channel always blocks.
        always("recv from empty", [] { (void)goro::chan<int>().recv(); });
        // Empty selects always block; so do selects of nil channels only.
        always("empty select", [] { goro::select(); });
        always("nil recv select", [nilch] { goro::select(goro::recv_case(nilch, [](auto) {})); });
        always("nil send select", [nilch] { goro::select(goro::send_case(nilch, 7, [] {})); });
        always("nil select", [nilch] { goro::select(goro::recv_case(nilch, [](auto) {}), goro::send_case(nilch, 7, [] {})); });
        // Selects with non-ready non-nil channels always block.
        always("non-ready select", [] { goro::select(goro::recv_case(goro::chan<int>(), [](auto) {})); });
        // Selects with a default never block.
        never("default only", [] { goro::select(goro::default_case([] {})); });
        never("nil recv + default", [nilch] { goro::select(goro::recv_case(nilch, [](auto) {}), goro::default_case([] {})); });
        never("nil send + default", [nilch] { goro::select(goro::send_case(nilch, 7, [] {}), goro::default_case([] {})); });
        // Selects with ready channels never block.
        never("ready send select", [] {
          goro::chan<int> ch(1);
          goro::select(goro::send_case(ch, 7, [] {}), goro::default_case([] { throw std::logic_error("unreachable"); }));
        });
        never("ready recv select", [] {
          goro::chan<int> ch(1);
          ch.send(7);
          goro::select(goro::recv_case(ch, [](auto) {}), goro::default_case([] { throw std::logic_error("unreachable"); }));
        });
        // Selects with closed channels behave like the plain operations.
        never("closed recv select", [closedch] { goro::select(goro::recv_case(closedch, [](auto) {})); });
        try {
          goro::select(goro::send_case(closedch, 7, [] {}));
          errs.push_back("select send on closed did not throw");
        } catch (const goro::closed_channel&) {
        }
        // A select does not get confused by seeing itself.
        always("self select", [] {
          goro::chan<int> c;
          goro::select(goro::send_case(c, 1, [] {}), goro::recv_case(c, [](auto) {}));
        });
      },
      goro::config{.procs = procs});
  INFO(join(errs));
  CHECK(errs.empty());
}

// Go: test/chan/select6.go (issue 2075): a select that loses on c1 while
// another receiver also waits on c1 must leave c1's queue intact, so that the
// two later sends on c1 both find a receiver.
TEST_CASE("select: a failed case does not corrupt a queue with other waiters (Go test/chan/select6.go)", "[select]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> wrong_case{0};
  bool both_sent = false;
  goro::run(
      [&] {
        goro::chan<int> c1, c2, c3;
        goro::go([c1] { (void)c1.recv(); });
        goro::go([c1, c2, c3, &wrong_case] {
          goro::select(goro::recv_case(c1, [&](auto) { ++wrong_case; }), goro::recv_case(c2, [&](auto) { c3.send(1); }));
          (void)c1.recv();
        });
        goro::go([c2] { c2.send(1); });
        (void)c3.recv();
        goro::chan<int> done(1);
        goro::go([c1, done] {
          c1.send(1);
          c1.send(1);
          done.send(1);
        });
        both_sent = recv_within(done, 10s);
      },
      goro::config{.procs = procs});
  CHECK(wrong_case.load() == 0);
  CHECK(both_sent);
}

// Go: test/chan/select7.go. Each way of sending (plain, one-case select,
// two-case select) meets each way of receiving.
TEST_CASE("select: sends and receives in selects of one and two cases meet (Go test/chan/select7.go)", "[select]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> received{0};
  bool all = false;
  goro::wait_group wg;  // test scope: goroutines stuck on failure are unwound after main returns
  goro::run(
      [&] {
        for (int r = 0; r < 3; ++r) {
          for (int s = 0; s < 3; ++s) {
            goro::chan<int> c;
            wg.go([c, r, &received] {
              if (r == 0) {
                (void)c.recv();
              } else if (r == 1) {
                goro::select(goro::recv_case(c, [](auto) {}));
              } else {
                goro::chan<int> c2;
                goro::select(goro::recv_case(c, [](auto) {}), goro::recv_case(c2, [](auto) {}));
              }
              ++received;
            });
            goro::yield();
            if (s == 0) {
              c.send(1);
            } else if (s == 1) {
              goro::select(goro::send_case(c, 1, [] {}));
            } else {
              goro::chan<int> c2;
              goro::select(goro::send_case(c, 1, [] {}), goro::send_case(c2, 1, [] {}));
            }
          }
        }
        goro::chan<int> done(1);
        goro::go([&wg, done] {
          wg.wait();
          done.send(1);
        });
        all = recv_within(done, 10s);
      },
      goro::config{.procs = procs});
  CHECK(all);
  CHECK(received.load() == 9);
}

// Go: test/chan/doubleselect.go. A sender selects over four unbuffered
// channels sending a counter; four muxes forward onto one channel; the
// receiver sees every value exactly once (two cases of one select never both
// run).
TEST_CASE("select: two cases of one select never both run (Go test/chan/doubleselect.go)", "[select][stress]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(50000));
  long dups = 0, count = 0, out_of_range = 0;
  goro::run(
      [&] {
        goro::chan<int> c1, c2, c3, c4, cmux;
        goro::go([c1, c2, c3, c4, n] {
          for (int i = 0; i < n; ++i)
            goro::select(goro::send_case(c1, i, [] {}), goro::send_case(c2, i, [] {}), goro::send_case(c3, i, [] {}),
                         goro::send_case(c4, i, [] {}));
          c1.close();
          c2.close();
          c3.close();
          c4.close();
        });
        goro::chan<bool> done;
        for (const auto& in : {c1, c2, c3, c4})
          goro::go([in, cmux, done] {
            for (int v : in) cmux.send(v);
            done.send(true);
          });
        goro::go([done, cmux] {
          for (int i = 0; i < 4; ++i) (void)done.recv();
          cmux.close();
        });
        std::vector<char> seen(static_cast<std::size_t>(n));
        for (int v : cmux) {
          if (v < 0 || v >= n) {
            ++out_of_range;
            continue;
          }
          if (seen[static_cast<std::size_t>(v)]) ++dups;
          seen[static_cast<std::size_t>(v)] = 1;
          ++count;
        }
      },
      goro::config{.procs = procs});
  CHECK(out_of_range == 0);
  CHECK(dups == 0);
  CHECK(count == n);
}

// A plain OS thread blocks in select (the thread sleeps) and is woken by
// goroutines; goroutines parked in select are woken by the thread.
TEST_CASE("select: plain OS threads select alongside goroutines", "[select][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(2000));
  long thread_sum = -1, goroutine_sum = 0;
  goro::run(
      [&] {
        keep_checkdead_off();
        goro::chan<int> a, b, to_main, results(1);
        std::thread t([a, b, to_main, results, n] {
          long s = 0;
          for (int i = 0; i < 2 * n; ++i)
            goro::select(goro::recv_case(a, [&](std::optional<int> v) { s += *v; }), goro::recv_case(b, [&](std::optional<int> v) { s += *v; }));
          goro::chan<int> never;
          for (int i = 0; i < n; ++i) goro::select(goro::send_case(to_main, i, [] {}), goro::recv_case(never, [](auto) {}));
          results.send(static_cast<int>(s));
        });
        goro::go([a, n] {
          for (int i = 0; i < n; ++i) a.send(i);
        });
        goro::go([b, n] {
          for (int i = 0; i < n; ++i) b.send(i);
        });
        for (int i = 0; i < n; ++i)
          goro::select(goro::recv_case(to_main, [&](std::optional<int> v) { goroutine_sum += *v; }));
        thread_sum = *results.recv();
        t.join();
      },
      goro::config{.procs = procs});
  CHECK(thread_sum == static_cast<long>(n) * (n - 1));
  CHECK(goroutine_sum == static_cast<long>(n) * (n - 1) / 2);
}

// A goroutine parked in a select when main returns is unwound: its destructors
// run, its send values are destroyed, and it leaves every queue.
TEST_CASE("select: a goroutine parked in select is unwound at exit", "[select][shutdown]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  std::atomic<int> unwound{0}, progressed{0};
  goro::run(
      [&] {
        goro::chan<int> r;
        goro::chan<counted> s;
        // Main returns once every goroutine holds its guard (one still on its
        // way into select is unwound at its park): a goroutine that had not
        // started when main returned would never run (docs/reference.md,
        // "Runtime"), and a sleep cannot promise that they all have.
        goro::wait_group started;
        started.add(8);
        for (int i = 0; i < 8; ++i)
          goro::go([r, s, i, &unwound, &progressed, &started] {
            exit_guard g{&unwound};
            started.done();
            goro::select(goro::recv_case(r, [](auto) {}), goro::send_case(s, counted(i), [] {}), goro::recv_case(r, [](auto) {}));
            ++progressed;
          });
        started.wait();
      },
      goro::config{.procs = procs});
  CHECK(progressed.load() == 0);
  CHECK(unwound.load() == 8);
  CHECK(counted::live.load() == base);
}

// Go's memory model through select: a send case happens before the receive
// case that takes its value completes (plain data, checked by TSan).
TEST_CASE("select: a send case happens before the matching receive case completes", "[select][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  auto cap = GENERATE(0, 1, 8);
  const int n = static_cast<int>(goro_test::scale(3000));
  std::vector<int> data(static_cast<std::size_t>(n));
  long bad = 0;
  goro::run(
      [&] {
        goro::chan<int> c(cap), never1, never2;
        goro::go([c, never1, &data, n] {
          for (int i = 0; i < n; ++i) {
            data[i] = i * 3 + 1;
            goro::select(goro::send_case(c, i, [] {}), goro::recv_case(never1, [](auto) {}));
          }
        });
        for (int k = 0; k < n; ++k) {
          int i = -1;
          goro::select(goro::recv_case(c, [&](std::optional<int> v) { i = *v; }), goro::recv_case(never2, [](auto) {}));
          if (i < 0 || data[i] != i * 3 + 1) ++bad;
        }
      },
      goro::config{.procs = procs});
  CHECK(bad == 0);
}

// recv_case(goro::after(d), ...) (docs/reference.md, "Select": cases take the
// handle by value): a select with nothing else ready times out after d, and one
// whose other case becomes ready first does not; in a loop, each after() is
// dropped with its case.
TEST_CASE("select: a timeout case with goro::after", "[select][time]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::size_t timed_out_idx = 9, early_idx = 9;
  bool long_enough = false;
  int loop_values = 0;
  goro::run(
      [&] {
        goro::chan<int> never;
        auto t0 = goro::now();
        timed_out_idx = goro::select(goro::recv_case(never, [](auto) {}), goro::recv_case(goro::after(3ms), [](auto) {}));
        long_enough = goro::now() - t0 >= 3ms;
        goro::chan<int> soon(1);
        goro::go([soon] { soon.send(1); });
        early_idx = goro::select(goro::recv_case(goro::after(10s), [](auto) {}), goro::recv_case(soon, [](auto) {}));
        goro::chan<int> values(1);
        goro::go([values] {
          for (int i = 0; i < 200; ++i) values.send(i);
        });
        for (int i = 0; i < 200; ++i)
          if (goro::select(goro::recv_case(values, [](auto) {}), goro::recv_case(goro::after(10s), [](auto) {})) == 0) ++loop_values;
      },
      goro::config{.procs = procs});
  CHECK(timed_out_idx == 1);
  CHECK(long_enough);
  CHECK(early_idx == 1);
  CHECK(loop_values == 200);
}
