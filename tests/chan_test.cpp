// goro::chan: ports of the behaviours of Go's runtime/chan_test.go and
// test/chan/*.go, plus the channel contract of docs/reference.md ("Channels"):
// handle semantics, nil channels, try_send / try_recv, range-for, move-only and
// non-default-constructible elements, lifetimes, close, bad input, plain OS
// threads and Go's memory model (the TSan job checks the latter on plain,
// non-atomic data).
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns; other goroutines report through channels,
// atomics or test-scope variables. Goroutines that stay blocked until main
// returns (and are then unwound) touch only test-scope variables, which outlive
// run().
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// counted: counts its live instances, so that a channel that leaks or
// double-destroys a value shows up.
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

// no_default: move-only and not default-constructible.
struct no_default {
  explicit no_default(int x) : p(std::make_unique<int>(x)) {}
  no_default(no_default&&) noexcept = default;
  no_default& operator=(no_default&&) noexcept = default;
  int value() const { return p ? *p : -1; }
  std::unique_ptr<int> p;
};
static_assert(!std::is_default_constructible_v<no_default>);
static_assert(!std::is_copy_constructible_v<no_default>);

// exit_guard: counts its destruction (a goroutine unwound at main's end runs it).
struct exit_guard {
  std::atomic<int>* n;
  ~exit_guard() { n->fetch_add(1); }
};

// keep_checkdead_off: a goroutine that wakes every 10 ms until main returns
// (it is then unwound). Threaded checkdead (docs/reference.md, "Runtime") calls
// a deadlock when every goroutine is parked and no plain OS thread is *inside*
// a goro call right now, so a goroutine waiting for a thread that has not made
// its first call yet (or is between two calls) would be reported as deadlocked;
// a pending timer turns checkdead off.
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

// ---------------------------------------------------------------------------
// Compile-time contract (docs/reference.md, "Channels"): the capacity
// constructor takes integers but not bool or character types, and is explicit;
// the nil channel converts from nullptr; operator bool is explicit.
static_assert(std::is_constructible_v<goro::chan<int>, int>);
static_assert(std::is_constructible_v<goro::chan<int>, long>);
static_assert(std::is_constructible_v<goro::chan<int>, unsigned>);
static_assert(std::is_constructible_v<goro::chan<int>, std::size_t>);
static_assert(std::is_constructible_v<goro::chan<int>, short>);
static_assert(!std::is_constructible_v<goro::chan<int>, bool>);
static_assert(!std::is_constructible_v<goro::chan<int>, char>);
static_assert(!std::is_constructible_v<goro::chan<int>, signed char>);
static_assert(!std::is_constructible_v<goro::chan<int>, unsigned char>);
static_assert(!std::is_constructible_v<goro::chan<int>, wchar_t>);
static_assert(!std::is_constructible_v<goro::chan<int>, char8_t>);
static_assert(!std::is_constructible_v<goro::chan<int>, char16_t>);
static_assert(!std::is_constructible_v<goro::chan<int>, char32_t>);
static_assert(!std::is_constructible_v<goro::chan<int>, double>);
static_assert(!std::is_convertible_v<int, goro::chan<int>>);  // explicit chan(cap)
static_assert(std::is_convertible_v<std::nullptr_t, goro::chan<int>>);
static_assert(!std::is_convertible_v<goro::chan<int>, bool>);  // explicit operator bool
static_assert(std::is_constructible_v<bool, goro::chan<int>>);
static_assert(std::is_nothrow_move_constructible_v<goro::chan<int>>);  // so chan<chan<T>> works
static_assert(std::is_base_of_v<std::logic_error, goro::closed_channel>);

// Handles are like std::shared_ptr: copies share, a moved-from handle is nil,
// `chan<int> c = 0;` is nil, chan<int>(0) is an unbuffered channel.
TEST_CASE("chan: handles share one channel: nil, moved-from, 0 and explicit bool", "[chan][handle]") {
  goro::run([] {
    goro::chan<int> a(2);
    goro::chan<int> b = a;
    CHECK(a == b);
    b.send(7);
    CHECK(a.size() == 1);
    CHECK(a.recv() == 7);

    goro::chan<int> m = std::move(b);
    CHECK_FALSE(static_cast<bool>(b));  // moved-from: nil
    CHECK(b.size() == 0);
    CHECK(b.capacity() == 0);
    CHECK(m == a);
    b = a;  // a moved-from handle can be assigned again
    CHECK(b == a);

    goro::chan<int> zero = 0;
    goro::chan<int> null = nullptr;
    CHECK_FALSE(static_cast<bool>(zero));
    CHECK_FALSE(static_cast<bool>(null));
    CHECK(zero == null);

    goro::chan<int> unbuffered(0);
    goro::chan<int> deflt;
    CHECK(static_cast<bool>(unbuffered));
    CHECK(static_cast<bool>(deflt));
    CHECK(unbuffered.capacity() == 0);
    CHECK(deflt.capacity() == 0);
    CHECK(deflt != unbuffered);
    CHECK(deflt != a);

    goro::chan<int> x = nullptr;
    x = a;
    goro::chan<int>& xr = x;
    x = xr;  // self-assignment
    CHECK(x == a);
    x = std::move(xr);  // self-move leaves it usable (either nil or a)
    x = nullptr;
    CHECK_FALSE(static_cast<bool>(x));
    CHECK(static_cast<bool>(a));
    CHECK(a.capacity() == 2);

    CHECK(goro::chan<int>(3u).capacity() == 3);
    CHECK(goro::chan<int>(std::size_t{5}).capacity() == 5);
    CHECK(goro::chan<int>(short{2}).capacity() == 2);
    CHECK(goro::chan<int>(4LL).capacity() == 4);
    CHECK(goro::chan<int>(std::uint16_t{6}).capacity() == 6);
  });
}

// Go: TestChan. For each capacity: a receive from an empty channel blocks, and
// a non-blocking one does not; a send to a full channel blocks, and a
// non-blocking one does not; a closed channel yields its buffered values in
// order, then nothing; close wakes a blocked receiver; values arrive in FIFO
// order and, with 4 senders and 4 receivers, each exactly 4 times; len/cap.
TEST_CASE("chan: Go TestChan across capacities", "[chan]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<int> caps;
  for (int i = 0; i <= 12; ++i) caps.push_back(i);
  for (int i : {17, 31, 64, 100, 199}) caps.push_back(i);
  std::vector<std::string> errs;  // main goroutine only
  goro::run(
      [&] {
        for (int cap : caps) {
          auto fail = [&](const std::string& what) { errs.push_back("chan[" + std::to_string(cap) + "]: " + what); };
          {
            // A receive from an empty channel blocks.
            goro::chan<int> c(cap);
            std::atomic<bool> recv1{false}, recv2{false};
            goro::wait_group wg;
            wg.go([c, &recv1] {
              (void)c.recv();
              recv1 = true;
            });
            wg.go([c, &recv2] {
              for (int v : c) {
                (void)v;
                recv2 = true;
                break;
              }
            });
            goro::sleep_for(1ms);
            if (recv1 || recv2) fail("receive from empty chan");
            // A non-blocking receive does not block.
            if (goro::select(goro::recv_case(c, [](auto) {}), goro::default_case([] {})) != 1) fail("non-blocking receive from empty chan");
            if (c.try_recv()) fail("try_recv from empty chan");
            c.send(0);
            c.send(0);
            wg.wait();
            if (!recv1 || !recv2) fail("receivers not released");
          }
          {
            // A send to a full channel blocks.
            goro::chan<int> c(cap);
            for (int i = 0; i < cap; ++i) c.send(i);
            std::atomic<bool> sent{false};
            goro::wait_group wg;
            wg.go([c, &sent] {
              c.send(0);
              sent = true;
            });
            goro::sleep_for(1ms);
            if (sent) fail("send to full chan");
            // A non-blocking send does not block.
            if (goro::select(goro::send_case(c, 0, [] {}), goro::default_case([] {})) != 1) fail("non-blocking send to full chan");
            if (c.try_send(0)) fail("try_send to full chan");
            (void)c.recv();
            wg.wait();
            if (!sent) fail("sender not released");
          }
          {
            // A closed channel yields its values, then nothing.
            goro::chan<int> c(cap);
            for (int i = 0; i < cap; ++i) c.send(i);
            c.close();
            for (int i = 0; i < cap; ++i) {
              auto v = c.recv();
              if (v != i) fail("received " + (v ? std::to_string(*v) : std::string("nullopt")) + ", expected " + std::to_string(i));
            }
            if (c.recv()) fail("value from closed chan");
            if (c.recv()) fail("value from closed chan (2)");
            if (c.try_recv()) fail("try_recv: value from closed chan");
            std::optional<int> got = 42;
            goro::select(goro::recv_case(c, [&](std::optional<int> v) { got = v; }));
            if (got) fail("select: value from closed chan");
          }
          {
            // Close unblocks a receive.
            goro::chan<int> c(cap);
            goro::chan<bool> done;
            goro::go([c, done] {
              auto v = c.recv();
              done.send(!v.has_value());
            });
            goro::sleep_for(1ms);
            c.close();
            if (done.recv() != true) fail("received non-nullopt from closed chan");
          }
          {
            // 100 integers arrive uncorrupted, in FIFO order.
            goro::chan<int> c(cap);
            goro::go([c] {
              for (int i = 0; i < 100; ++i) c.send(i);
            });
            for (int i = 0; i < 100; ++i) {
              auto v = c.recv();
              if (v != i) fail("FIFO: received wrong value at " + std::to_string(i));
            }
            // The same, receiving with range-for until close.
            goro::go([c] {
              for (int i = 0; i < 100; ++i) c.send(i);
              c.close();
            });
            int want = 0;
            for (int v : c) {
              if (v != want) fail("FIFO range: received " + std::to_string(v) + ", expected " + std::to_string(want));
              ++want;
            }
            if (want != 100) fail("FIFO range: received " + std::to_string(want) + " values");

            // 4 senders of 0..L-1 and 4 receivers: every value arrives exactly 4 times.
            constexpr int P = 4, L = 1000;
            goro::chan<int> c2(cap);
            for (int p = 0; p < P; ++p)
              goro::go([c2] {
                for (int i = 0; i < L; ++i) c2.send(i);
              });
            goro::chan<std::vector<int>> done;
            for (int p = 0; p < P; ++p)
              goro::go([c2, done] {
                std::vector<int> r(L + 1);
                for (int i = 0; i < L; ++i) {
                  auto v = c2.recv();
                  ++r[v && *v >= 0 && *v < L ? *v : L];
                }
                done.send(std::move(r));
              });
            std::vector<int> total(L + 1);
            for (int p = 0; p < P; ++p) {
              auto r = done.recv();
              for (int k = 0; k <= L; ++k) total[k] += (*r)[k];
            }
            for (int k = 0; k < L; ++k)
              if (total[k] != P) {
                fail("value " + std::to_string(k) + " received " + std::to_string(total[k]) + " times");
                break;
              }
            if (total[L] != 0) fail("out-of-range values received");
          }
          {
            // len/cap.
            goro::chan<int> c(cap);
            if (c.size() != 0 || c.capacity() != static_cast<std::size_t>(cap)) fail("bad len/cap when empty");
            for (int i = 0; i < cap; ++i) c.send(i);
            if (c.size() != static_cast<std::size_t>(cap) || c.capacity() != static_cast<std::size_t>(cap)) fail("bad len/cap when full");
          }
        }
      },
      goro::config{.procs = procs});
  INFO(join(errs));
  CHECK(errs.empty());
}

// Go: TestMultiConsumer. 23 workers range over q and forward to r (yielding
// now and then to disturb FIFO-ish order); a feeder fills q, closes it, waits
// for the workers, then closes r. Count and sum through r match. The feeder's
// plain `expect` is read after r's close: close happens before the closed
// receive (TSan checks it).
TEST_CASE("chan: Go TestMultiConsumer", "[chan]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long niter = goro_test::scale(100000);
  long n = 0, s = 0, expect = 0;
  goro::run(
      [&] {
        static constexpr int pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
        constexpr int nwork = 23;
        goro::chan<int> q(nwork * 3), r(nwork * 3);
        goro::wait_group wg;
        for (int w = 0; w < nwork; ++w) {
          wg.add(1);
          goro::go([q, r, w, &wg] {
            for (int v : q) {
              if (pn[w % 10] == v) goro::yield();
              r.send(v);
            }
            wg.done();
          });
        }
        goro::go([q, r, &wg, &expect, niter] {
          for (long i = 0; i < niter; ++i) {
            int v = pn[i % 10];
            expect += v;
            q.send(v);
          }
          q.close();
          wg.wait();
          r.close();
        });
        for (int v : r) {
          ++n;
          s += v;
        }
      },
      goro::config{.procs = procs});
  CHECK(n == niter);
  CHECK(s == expect);
}

// Multi-producer / multi-consumer stress: 4 producers send unique values, 4
// consumers range until close; nothing is lost or duplicated (count, sum and a
// per-value hit count), for unbuffered, 1- and 64-slot channels.
TEST_CASE("chan: 4 producers x 4 consumers lose and duplicate nothing", "[chan][stress]") {
  auto procs = GENERATE(1u, 2u, 4u);
  auto cap = GENERATE(0, 1, 64);
  constexpr int P = 4, C = 4;
  const long per = goro_test::scale(25000);
  const long total = P * per;
  std::vector<std::atomic<std::uint8_t>> seen(static_cast<std::size_t>(total));
  std::array<long, C> counts{}, sums{}, bad{};
  goro::run(
      [&] {
        goro::chan<long> c(cap);
        goro::wait_group prod, cons;
        for (int p = 0; p < P; ++p)
          prod.go([c, p, per] {
            for (long i = 0; i < per; ++i) c.send(p * per + i);
          });
        for (int k = 0; k < C; ++k)
          cons.go([c, k, total, &seen, &counts, &sums, &bad] {
            for (long v : c) {
              if (v < 0 || v >= total) {
                ++bad[k];
                continue;
              }
              ++counts[k];
              sums[k] += v;
              seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
            }
          });
        prod.wait();
        c.close();
        cons.wait();
      },
      goro::config{.procs = procs});
  long n = 0, s = 0, b = 0;
  for (int k = 0; k < C; ++k) {
    n += counts[k];
    s += sums[k];
    b += bad[k];
  }
  long dup = 0, lost = 0;
  for (auto& x : seen) {
    auto h = x.load();
    if (h == 0) ++lost;
    if (h > 1) ++dup;
  }
  CHECK(b == 0);
  CHECK(n == total);
  CHECK(s == total * (total - 1) / 2);
  CHECK(lost == 0);
  CHECK(dup == 0);
}

// The same with a value type that counts its instances, through a channel of
// each kind: every value is destroyed exactly once.
TEST_CASE("chan: values moved through channels are neither leaked nor destroyed twice", "[chan][stress]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  const int per = static_cast<int>(goro_test::scale(5000));
  long sum = 0;
  goro::run(
      [&] {
        for (int cap : {0, 1, 7}) {
          goro::chan<counted> c(cap);
          goro::wait_group prod;
          for (int p = 0; p < 3; ++p)
            prod.go([c, per] {
              for (int i = 0; i < per; ++i) c.send(counted(1));
            });
          goro::chan<long> partial(3);
          for (int k = 0; k < 3; ++k)
            goro::go([c, partial] {
              long s = 0;
              for (const counted& v : c) s += v.v;
              partial.send(s);
            });
          prod.wait();
          c.close();
          for (int k = 0; k < 3; ++k) sum += *partial.recv();
        }
      },
      goro::config{.procs = procs});
  CHECK(sum == 3L * 3 * per);
  CHECK(counted::live.load() == base);
}

// Unbuffered send is a rendezvous (docs/reference.md, "Channels"), and Go's
// memory model for it: the receive happens before the send completes. So (1) a
// send does not complete before a receiver comes; (2) plain data the receiver
// wrote before its receive is visible to the sender once send() returns; (3)
// once send() returns the value has left the channel: nobody else can receive
// it.
TEST_CASE("chan: unbuffered send is a rendezvous", "[chan][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  bool blocked_until_receiver = false, released = false, value_ok = false;
  long stale = 0, leftover = 0;
  const int n = static_cast<int>(goro_test::scale(2000));
  goro::run(
      [&] {
        {
          goro::chan<int> c;
          std::atomic<bool> sent{false};
          goro::wait_group wg;
          wg.go([c, &sent] {
            c.send(9);
            sent = true;
          });
          goro::sleep_for(2ms);
          blocked_until_receiver = !sent;
          value_ok = c.recv() == 9;
          wg.wait();
          released = sent;
        }
        // (2): the receiver writes `plain`, then receives; after send() returns
        // the sender must see the write. Alternate who arrives first.
        int plain = 0;
        for (int k = 1; k <= n; ++k) {
          goro::chan<int> c;
          goro::go([c, &plain, k] {
            if (k % 2 == 0) goro::yield();
            plain = k;
            (void)c.recv();
          });
          if (k % 3 == 0) goro::yield();
          c.send(k);
          if (plain != k) ++stale;
        }
        // (3): after send() returns, the value is with the receiver: a third
        // party finds nothing, and the receiver reports exactly that value.
        for (int k = 0; k < n / 4; ++k) {
          goro::chan<int> c;
          goro::chan<int> got(1);
          goro::go([c, got] { got.send(*c.recv()); });
          c.send(k);
          if (c.size() != 0 || c.try_recv().has_value()) ++leftover;
          if (got.recv() != k) ++leftover;
        }
      },
      goro::config{.procs = procs});
  CHECK(blocked_until_receiver);
  CHECK(value_ok);
  CHECK(released);
  CHECK(stale == 0);
  CHECK(leftover == 0);
}

// Go's memory model, on plain non-atomic data (the TSan job reports a missing
// happens-before edge even where the values happen to be right):
//  - a send happens before the corresponding receive completes;
//  - closing happens before a receive that returns because the channel is
//    closed (blocking recv, range-for, select);
//  - the k-th receive on a channel of capacity C happens before the (k+C)-th
//    send completes.
TEST_CASE("chan: Go's memory model on plain data", "[chan][memory-model]") {
  auto procs = GENERATE(1u, 2u, 4u);
  auto cap = GENERATE(0, 1, 16);
  const int n = static_cast<int>(goro_test::scale(2000));
  std::vector<std::array<int, 8>> slots(static_cast<std::size_t>(n));
  std::vector<int> marks(static_cast<std::size_t>(n) + 1, 0);
  long bad_send = 0, bad_close = 0, bad_kc = 0;
  goro::run(
      [&] {
        // send -> receive
        goro::chan<int> c(cap);
        goro::go([c, &slots, n] {
          for (int i = 0; i < n; ++i) {
            for (int j = 0; j < 8; ++j) slots[i][j] = i * 8 + j;
            c.send(i);
          }
        });
        for (int k = 0; k < n; ++k) {
          int i = *c.recv();
          for (int j = 0; j < 8; ++j)
            if (slots[i][j] != i * 8 + j) ++bad_send;
        }
        // close -> closed receive, three ways of receiving
        const int trials = static_cast<int>(goro_test::scale(300));
        for (int way = 0; way < 3; ++way) {
          for (int t = 0; t < trials; ++t) {
            int plain = 0;
            goro::chan<int> d(cap);
            goro::go([d, &plain, t] {
              plain = t + 1;
              d.close();
            });
            if (way == 0) {
              if (d.recv()) ++bad_close;
            } else if (way == 1) {
              for (int v : d) (void)v;
            } else {
              bool closed = false;
              while (!closed)
                goro::select(goro::recv_case(d, [&](std::optional<int> v) { closed = !v; }), goro::default_case([] { goro::yield(); }));
            }
            if (plain != t + 1) ++bad_close;
          }
        }
        // k-th receive -> (k+C)-th send completes
        goro::chan<int> e(cap);
        goro::wait_group wg;
        wg.go([e, &marks, n] {
          for (int k = 0; k < n; ++k) {
            marks[k] = k + 1;
            (void)e.recv();
          }
        });
        for (int j = 0; j < n; ++j) {
          e.send(j);
          if (j >= cap && marks[j - cap] != j - cap + 1) ++bad_kc;
        }
        wg.wait();
      },
      goro::config{.procs = procs});
  CHECK(bad_send == 0);
  CHECK(bad_close == 0);
  CHECK(bad_kc == 0);
}

// The nil channel: send and receive block forever, it is never ready in a
// select, try_send/try_recv fail, size and capacity are 0. A goroutine blocked
// on it when main returns is unwound: its destructors run.
TEST_CASE("chan: nil channel blocks forever, is never ready, and its waiters are unwound at exit", "[chan][nil]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> unwound{0}, progressed{0};
  bool default_taken[4] = {};
  goro::run(
      [&] {
        goro::chan<int> nil = nullptr;
        CHECK(nil.size() == 0);
        CHECK(nil.capacity() == 0);
        default_taken[0] = goro::select(goro::recv_case(nil, [&](auto) { ++progressed; }), goro::default_case([] {})) == 1;
        default_taken[1] = goro::select(goro::send_case(nil, 7, [&] { ++progressed; }), goro::default_case([] {})) == 1;
        default_taken[2] =
            goro::select(goro::default_case([] {}), goro::send_case(nil, 7, [&] { ++progressed; }), goro::recv_case(nil, [&](auto) { ++progressed; })) == 0;
        int v = 3;
        default_taken[3] = !nil.try_send(v) && !nil.try_recv().has_value();

        goro::go([nil, &unwound, &progressed] {
          exit_guard g{&unwound};
          nil.send(1);
          ++progressed;
        });
        goro::go([nil, &unwound, &progressed] {
          exit_guard g{&unwound};
          (void)nil.recv();
          ++progressed;
        });
        goro::go([nil, &unwound, &progressed] {
          exit_guard g{&unwound};
          for (int x : nil) (void)x;
          ++progressed;
        });
        goro::go([nil, &unwound, &progressed] {
          exit_guard g{&unwound};
          goro::select(goro::recv_case(nil, [](auto) {}), goro::send_case(nil, 1, [] {}));
          ++progressed;
        });
        goro::go([&unwound, &progressed] {
          exit_guard g{&unwound};
          goro::select();  // no cases: blocks forever
          ++progressed;
        });
        goro::sleep_for(5ms);
        CHECK(progressed.load() == 0);
        CHECK(unwound.load() == 0);
      },
      goro::config{.procs = procs});
  CHECK(default_taken[0]);
  CHECK(default_taken[1]);
  CHECK(default_taken[2]);
  CHECK(default_taken[3]);
  CHECK(progressed.load() == 0);
  CHECK(unwound.load() == 5);
}

// try_send sends only if it can without blocking and moves from v only on
// success; try_recv receives only a value that is ready now.
TEST_CASE("chan: try_send moves only on success, try_recv takes only ready values", "[chan][try]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [&] {
        using up = std::unique_ptr<int>;
        goro::chan<up> c(1);
        auto p = std::make_unique<int>(1);
        CHECK(c.try_send(p));
        CHECK(p == nullptr);  // moved on success
        auto q = std::make_unique<int>(2);
        CHECK_FALSE(c.try_send(q));  // full
        REQUIRE(q != nullptr);       // intact on failure
        CHECK(*q == 2);
        CHECK_FALSE(c.try_send(std::make_unique<int>(3)));  // rvalue overload
        auto r = c.try_recv();
        REQUIRE(r.has_value());
        REQUIRE(*r != nullptr);
        CHECK(**r == 1);
        CHECK_FALSE(c.try_recv().has_value());  // empty

        // Unbuffered: fails without a parked receiver, succeeds with one.
        goro::chan<up> u;
        CHECK_FALSE(u.try_send(q));
        REQUIRE(q != nullptr);
        CHECK_FALSE(u.try_recv().has_value());
        goro::chan<int> got(1);
        goro::go([u, got] {
          auto v = u.recv();
          got.send(v && *v ? **v : -1);
        });
        while (!u.try_send(q)) {
          REQUIRE(q != nullptr);  // every failed attempt leaves it intact
          goro::yield();
        }
        CHECK(q == nullptr);
        CHECK(got.recv() == 2);
        // ... and try_recv succeeds with a parked sender.
        goro::go([u] { u.send(std::make_unique<int>(4)); });
        std::optional<up> t;
        while (!(t = u.try_recv())) goro::yield();
        CHECK(**t == 4);

        // nil: both fail, v intact.
        goro::chan<up> nil = nullptr;
        auto w = std::make_unique<int>(5);
        CHECK_FALSE(nil.try_send(w));
        CHECK(w != nullptr);
        CHECK_FALSE(nil.try_recv().has_value());

        // Closed: try_send throws closed_channel and leaves v intact; try_recv
        // drains the buffered values, then returns nullopt.
        goro::chan<up> cl(2);
        cl.send(std::make_unique<int>(6));
        cl.close();
        CHECK_THROWS_AS(cl.try_send(w), goro::closed_channel);
        CHECK(w != nullptr);
        auto last = cl.try_recv();
        REQUIRE(last.has_value());
        CHECK(**last == 6);
        CHECK_FALSE(cl.try_recv().has_value());
        CHECK_FALSE(cl.try_recv().has_value());
      },
      goro::config{.procs = procs});
}

// size() and capacity() (Go: len and cap), through fill, drain and wrap-around.
TEST_CASE("chan: size and capacity follow the buffer", "[chan]") {
  goro::run([] {
    goro::chan<int> c(3);
    CHECK(c.capacity() == 3);
    for (int round = 0; round < 5; ++round) {
      CHECK(c.size() == 0);
      c.send(1);
      CHECK(c.size() == 1);
      c.send(2);
      c.send(3);
      CHECK(c.size() == 3);
      (void)c.recv();
      CHECK(c.size() == 2);
      (void)c.recv();
      (void)c.recv();
    }
    c.send(1);
    c.close();
    CHECK(c.size() == 1);  // closing keeps the buffered values
    CHECK(c.capacity() == 3);
    goro::chan<int> u;
    CHECK(u.size() == 0);
    CHECK(u.capacity() == 0);
  });
}

// range-for receives until the channel is closed and drained.
TEST_CASE("chan: range-for receives until close and drain", "[chan][range]") {
  auto procs = GENERATE(1u, 2u, 4u);
  auto cap = GENERATE(0, 1, 5, 200);
  std::vector<int> got, got_mo;
  int empty_iterations = 0;
  goro::run(
      [&] {
        goro::chan<int> c(cap);
        goro::go([c] {
          for (int i = 0; i < 100; ++i) c.send(i);
          c.close();
        });
        for (int v : c) got.push_back(v);

        // A closed, empty channel: no iteration. A const handle ranges too.
        const goro::chan<int> e(cap);
        e.close();
        for (int v : e) {
          (void)v;
          ++empty_iterations;
        }

        // Move-only elements.
        goro::chan<std::unique_ptr<int>> m(cap);
        goro::go([m] {
          for (int i = 0; i < 10; ++i) m.send(std::make_unique<int>(i));
          m.close();
        });
        for (const auto& p : m) got_mo.push_back(p ? *p : -1);
      },
      goro::config{.procs = procs});
  std::vector<int> want(100);
  std::iota(want.begin(), want.end(), 0);
  CHECK(got == want);
  CHECK(empty_iterations == 0);
  CHECK(got_mo == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

// docs/reference.md, "Channels": "range-for receives by value ...:
// for (T v : ch)" and "T may be move-only". With a move-only T that loop does
// not compile: the iterator's operator* returns T&, so `T v = *it` copies.
// (auto& / auto&& work.)
template <class T>
constexpr bool range_by_value_compiles = requires(const goro::chan<T>& c) { T(*c.begin()); };
static_assert(range_by_value_compiles<int>);
TEST_CASE("chan: for (T v : ch) compiles for a move-only T", "[chan][range]") {
  CHECK(range_by_value_compiles<std::unique_ptr<int>>);
  CHECK(range_by_value_compiles<no_default>);
}

// Move-only, non-default-constructible elements: send, recv, try_*, select,
// buffered and unbuffered.
TEST_CASE("chan: move-only and non-default-constructible elements", "[chan]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [&] {
        for (int cap : {0, 1, 4}) {
          goro::chan<no_default> c(cap);
          // Each non-blocking operation meets a blocking partner (two
          // non-blocking ones never meet on an unbuffered channel).
          goro::go([c] {
            c.send(no_default(1));
            no_default v(2);
            while (!c.try_send(v)) goro::yield();
            c.send(no_default(3));
            goro::select(goro::send_case(c, no_default(4), [] {}));
            c.close();
          });
          auto a = c.recv();
          REQUIRE(a.has_value());
          CHECK(a->value() == 1);
          auto b = c.recv();
          REQUIRE(b.has_value());
          CHECK(b->value() == 2);
          std::optional<no_default> t;
          while (!(t = c.try_recv())) goro::yield();
          CHECK(t->value() == 3);
          int fourth = 0;
          goro::select(goro::recv_case(c, [&](std::optional<no_default> v) { fourth = v ? v->value() : -1; }));
          CHECK(fourth == 4);
          CHECK_FALSE(c.recv().has_value());
        }
        // Channels of channels (Go's request/response idiom).
        goro::chan<goro::chan<int>> requests;
        goro::go([requests] {
          for (auto&& reply : requests) reply.send(42);
        });
        for (int i = 0; i < 10; ++i) {
          goro::chan<int> reply(1);
          requests.send(reply);
          CHECK(reply.recv() == 42);
        }
        requests.close();
      },
      goro::config{.procs = procs});
}

// Go: test/chan/zerosize.go: empty element types work.
TEST_CASE("chan: empty element type", "[chan]") {
  struct empty {};
  goro::run([] {
    goro::chan<empty> c(0), d(2);
    goro::go([c] { c.send(empty{}); });
    CHECK(c.recv().has_value());
    d.send(empty{});
    d.send(empty{});
    CHECK(d.size() == 2);
    CHECK(d.recv().has_value());
    CHECK(d.recv().has_value());
  });
}

// A channel lives while any handle or parked waiter refers to it: the last
// handle can belong to a parked goroutine, and dropping every other handle
// neither frees the channel under it nor leaks it.
TEST_CASE("chan: a channel outlives the other handles while a waiter is parked on it", "[chan][lifetime]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  std::atomic<int> unwound{0};
  int received = 0;
  goro::run(
      [&] {
        goro::wait_group started;
        started.add(3);
        {
          // The parked receiver and a sender goroutine hold the only handles.
          goro::chan<counted> c;
          goro::chan<int> done(1);
          goro::go([c, done] {
            auto v = c.recv();
            done.send(v ? v->v : -1);
          });
          goro::sleep_for(1ms);
          goro::go([c] { c.send(counted(5)); });
          c = nullptr;
          received = *done.recv();
        }
        {
          // A sender parked on a full channel that nobody else refers to:
          // unwound at exit; its value and the buffered one are destroyed.
          goro::chan<counted> c(1);
          c.send(counted(1));
          goro::go([c, &unwound, &started] {
            exit_guard g{&unwound};
            started.done();
            c.send(counted(2));
          });
        }
        {
          // A receiver parked forever on a channel nobody else refers to.
          goro::chan<counted> c;
          goro::go([c, &unwound, &started] {
            exit_guard g{&unwound};
            started.done();
            (void)c.recv();
          });
        }
        // A select parked on temporaries: its cases hold the only handles.
        goro::go([&unwound, &started] {
          exit_guard g{&unwound};
          started.done();
          goro::select(goro::recv_case(goro::chan<counted>(), [](auto) {}), goro::send_case(goro::chan<counted>(), counted(3), [] {}),
                       goro::send_case(goro::chan<counted>(), counted(4), [] {}));
        });
        // Every one has started (its guard exists): whether it has parked yet
        // or parks after main returns, it is unwound exactly once.
        started.wait();
      },
      goro::config{.procs = procs});
  CHECK(received == 5);
  CHECK(unwound.load() == 3);
  CHECK(counted::live.load() == base);
}

// Buffered values are destroyed with the channel (when its last handle goes),
// including after the ring buffer has wrapped around and after close.
TEST_CASE("chan: buffered values are destroyed when the channel dies", "[chan][lifetime]") {
  const long base = counted::live.load();
  long after_fill = 0, after_drop = 0, wrapped_fill = 0, after_wrap_drop = 0, closed_drop = 0, held = 0, after_goroutine = 0;
  goro::run([&] {
    {
      goro::chan<counted> c(8);
      for (int i = 0; i < 5; ++i) c.send(counted(i));
      after_fill = counted::live.load() - base;
    }
    after_drop = counted::live.load() - base;
    {
      goro::chan<counted> c(4);
      for (int i = 0; i < 4; ++i) c.send(counted(i));
      for (int i = 0; i < 3; ++i) (void)c.recv();
      for (int i = 0; i < 3; ++i) c.send(counted(i));  // wraps around
      wrapped_fill = counted::live.load() - base;
    }
    after_wrap_drop = counted::live.load() - base;
    {
      goro::chan<counted> c(3);
      c.send(counted(1));
      c.send(counted(2));
      c.close();
      (void)c.recv();
    }
    closed_drop = counted::live.load() - base;
    {
      // A copy held by a goroutine keeps the values alive until it goes.
      goro::chan<counted> c(4);
      c.send(counted(1));
      c.send(counted(2));
      goro::chan<int> release;
      goro::go([c, release] { (void)release.recv(); });
      c = nullptr;
      goro::sleep_for(1ms);
      held = counted::live.load() - base;
      release.send(1);
      for (int i = 0; i < 2000 && counted::live.load() != base; ++i) goro::sleep_for(100us);
      after_goroutine = counted::live.load() - base;
    }
  });
  CHECK(after_fill == 5);
  CHECK(after_drop == 0);
  CHECK(wrapped_fill == 4);
  CHECK(after_wrap_drop == 0);
  CHECK(closed_drop == 0);
  CHECK(held == 2);
  CHECK(after_goroutine == 0);
  CHECK(counted::live.load() == base);
}

// close wakes every blocked receiver (with nullopt) and every blocked sender
// (closed_channel, its value destroyed), plain and in select; the buffered
// values survive the close and are received before nullopt.
TEST_CASE("chan: close wakes all blocked receivers and senders", "[chan][close]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int n = 12;
  const long base = counted::live.load();
  std::atomic<int> got_nullopt{0}, got_value{0}, threw{0}, sent{0};
  int buffered_a = 0, buffered_b = 0;
  bool then_nullopt = false;
  goro::run(
      [&] {
        goro::chan<int> rc;              // unbuffered: receivers block
        goro::chan<int> rcb(4);          // buffered, empty: receivers block
        goro::chan<counted> sc;          // unbuffered: senders block
        goro::chan<counted> scb(2);      // buffered, full: senders block
        scb.send(counted(100));
        scb.send(counted(101));
        goro::wait_group wg;
        for (int i = 0; i < n; ++i) {
          for (const auto& ch : {rc, rcb})
            wg.go([ch, &got_nullopt, &got_value] { ch.recv() ? ++got_value : ++got_nullopt; });
          wg.go([rc, rcb, &got_nullopt, &got_value] {
            goro::select(goro::recv_case(rc, [&](std::optional<int> v) { v ? ++got_value : ++got_nullopt; }),
                         goro::recv_case(rcb, [&](std::optional<int> v) { v ? ++got_value : ++got_nullopt; }));
          });
          for (const auto& ch : {sc, scb})
            wg.go([ch, i, &threw, &sent] {
              try {
                ch.send(counted(i));
                ++sent;
              } catch (const goro::closed_channel&) {
                ++threw;
              }
            });
          wg.go([sc, scb, i, &threw, &sent] {
            try {
              goro::select(goro::send_case(sc, counted(i), [&] { ++sent; }), goro::send_case(scb, counted(i), [&] { ++sent; }));
            } catch (const goro::closed_channel&) {
              ++threw;
            }
          });
        }
        goro::sleep_for(3ms);  // let them park (one that has not yet sees the channel closed: same outcome)
        rc.close();
        rcb.close();
        sc.close();
        scb.close();
        wg.wait();
        auto a = scb.recv();
        auto b = scb.recv();
        buffered_a = a ? a->v : -1;
        buffered_b = b ? b->v : -1;
        then_nullopt = !scb.recv().has_value();
      },
      goro::config{.procs = procs});
  CHECK(got_nullopt.load() == 3 * n);
  CHECK(got_value.load() == 0);
  CHECK(threw.load() == 3 * n);
  CHECK(sent.load() == 0);
  CHECK(buffered_a == 100);
  CHECK(buffered_b == 101);
  CHECK(then_nullopt);
  CHECK(counted::live.load() == base);
}

// Bad input throws what docs/reference.md names ("Channels", "Errors"), and the
// runtime carries on normally.
TEST_CASE("chan: bad input throws the documented exceptions and changes nothing else", "[chan][errors]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const long base = counted::live.load();
  bool nil_close_is_logic_error = false, nil_close_is_closed_channel = false;
  long after = 0;
  int pingpong = 0;
  goro::run(
      [&] {
        goro::chan<int> c(1);
        c.close();
        CHECK_THROWS_AS(c.send(1), goro::closed_channel);     // send on closed
        CHECK_THROWS_AS(c.close(), goro::closed_channel);     // close twice
        CHECK_THROWS_AS(c.try_send(1), goro::closed_channel); // try_send on closed
        CHECK_THROWS_AS(goro::select(goro::send_case(c, 1, [] {})), goro::closed_channel);
        CHECK_THROWS_AS(goro::select(goro::send_case(c, 1, [] {}), goro::default_case([] {})), goro::closed_channel);
        CHECK_FALSE(c.recv().has_value());

        goro::chan<counted> cc(1);
        cc.close();
        CHECK_THROWS_AS(cc.send(counted(1)), goro::closed_channel);  // the value is destroyed
        after = counted::live.load() - base;

        goro::chan<int> nil = nullptr;
        try {
          nil.close();
        } catch (const goro::closed_channel&) {
          nil_close_is_closed_channel = true;
        } catch (const std::logic_error&) {
          nil_close_is_logic_error = true;
        }

        CHECK_THROWS_AS(goro::chan<int>(-1), std::invalid_argument);
        CHECK_THROWS_AS(goro::chan<int>(-1L), std::invalid_argument);
        CHECK_THROWS_AS(goro::chan<int>(INT_MIN), std::invalid_argument);
        CHECK_THROWS_AS(goro::chan<int>(static_cast<short>(-3)), std::invalid_argument);

        // The runtime and fresh channels work as usual.
        goro::chan<int> ping, pong;
        goro::go([ping, pong] {
          for (int v : ping) pong.send(v + 1);
          pong.close();
        });
        for (int i = 0; i < 100; ++i) {
          ping.send(i);
          pingpong += *pong.recv() - i;
        }
        ping.close();
        CHECK_FALSE(pong.recv().has_value());
      },
      goro::config{.procs = procs});
  CHECK(after == 0);
  CHECK(nil_close_is_logic_error);
  CHECK_FALSE(nil_close_is_closed_channel);
  CHECK(pingpong == 100);
  CHECK(counted::live.load() == base);
}

// Plain OS threads send, receive, range and close alongside goroutines; a
// thread blocked on a channel is woken by a goroutine and the reverse.
TEST_CASE("chan: plain OS threads use channels with goroutines", "[chan][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(2000));
  long sum = 0, thread_sum = -1;
  bool closed_by_thread = false;
  goro::run(
      [&] {
        goro::chan<int> c, back(1), results(1);
        goro::chan<int> work(3);
        keep_checkdead_off();
        std::thread t([c, back, work, results, n] {
          for (int i = 0; i < n; ++i) c.send(i);  // blocks the thread until a goroutine receives
          long s = 0;
          for (int v : work) s += v;  // ranges until a goroutine closes work
          results.send(static_cast<int>(s));
          (void)back.recv();  // blocks until main sends
          c.close();
        });
        for (int i = 0; i < n; ++i) sum += *c.recv();
        for (int i = 0; i < n; ++i) work.send(i);
        work.close();
        thread_sum = *results.recv();
        back.send(1);
        closed_by_thread = !c.recv().has_value();
        t.join();  // the thread has no goro call left to make
      },
      goro::config{.procs = procs});
  CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
  CHECK(thread_sum == static_cast<long>(n) * (n - 1) / 2);
  CHECK(closed_by_thread);
}

// Regression test for a lost wake-up (found with these tests, fixed in
// f052b09): ready() from a plain thread (no M) puts the G on the global run
// queue and calls wakep(), which does nothing while some M is spinning; the
// spinning M had checked the global queue under sched.lock, dropped its P,
// decremented nmspinning and then re-checked only the per-P queues (Go
// re-checks the global queue there too: "Check global and P runqueues
// again"). A G queued in between stayed queued while every M slept, until
// something else woke an M - here a rescuer goroutine's 1 s timer; without
// one, forever. It stalled about once per 100k thread<->goroutine round
// trips at procs 2 and 4. The thread measures each round trip: over 500 ms
// means the goroutine sat runnable with no M awake.
TEST_CASE("chan: a goroutine readied by a plain OS thread is never stranded", "[chan][threads]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(60000));
  long stalls = 0, worst_us = 0;
  goro::run(
      [&] {
        goro::go([] {
          for (;;) goro::sleep_for(1s);  // the rescuer (and checkdead stays off)
        });
        goro::chan<int> a, b;
        std::thread t([a, b, n, &stalls, &worst_us] {
          for (int i = 0; i < n; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            a.send(i);
            (void)b.recv();
            long us = static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
            if (us > 500000) ++stalls;
            worst_us = std::max(worst_us, us);
          }
        });
        for (int i = 0; i < n; ++i) {
          (void)a.recv();
          b.send(i);
        }
        t.join();
      },
      goro::config{.procs = procs});
  INFO("worst round trip " << worst_us << " us");
  CHECK(stalls == 0);
}

// Threaded checkdead and plain OS threads: a goroutine that waits for a plain
// thread which is not inside a goro call at that moment (it has not made its
// first call yet) is not deadlocked (docs/reference.md, "Runtime": deadlock
// detection holds back while such a thread exists). runtime_test has more.
TEST_CASE("chan: a goroutine waiting for a plain thread that is busy elsewhere is not a deadlock", "[chan][threads]") {
  std::thread t;
  bool deadlock = false;
  int got = 0;
  try {
    goro::run(
        [&] {
          goro::chan<int> c(1);
          t = std::thread([c] {
            std::this_thread::sleep_for(50ms);  // work outside goro first
            c.send(1);
          });
          got = *c.recv();
        },
        goro::config{.procs = 2});
  } catch (const goro::deadlock_error&) {
    deadlock = true;
  }
  t.join();
  CHECK_FALSE(deadlock);
  CHECK(got == 1);
}

// Go: test/chan/fifo.go. AsynchFifo: a buffered channel keeps order. SynchFifo:
// a chain of goroutines, each waiting for its turn, receives in turn from one
// unbuffered channel: goroutine i gets value i.
TEST_CASE("chan: FIFO order, buffered and through a chain of goroutines (Go test/chan/fifo.go)", "[chan]") {
  auto procs = GENERATE(1u, 2u, 4u);
  constexpr int N = 10;
  std::atomic<int> wrong{0};
  std::vector<int> async;
  goro::run(
      [&] {
        goro::chan<int> ch(N);
        for (int i = 0; i < N; ++i) ch.send(i);
        for (int i = 0; i < N; ++i) async.push_back(*ch.recv());

        goro::chan<int> sync;
        goro::chan<int> in;
        goro::chan<int> start = in;
        for (int i = 0; i < N; ++i) {
          goro::chan<int> out;
          goro::go([sync, i, in, out, &wrong] {
            (void)in.recv();
            if (sync.recv() != i) ++wrong;
            out.send(1);
          });
          in = out;
        }
        start.send(0);
        for (int i = 0; i < N; ++i) sync.send(i);
        (void)in.recv();
      },
      goro::config{.procs = procs});
  CHECK(async == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(wrong.load() == 0);
}

// Go: test/chan/goroutines.go: a chain of n goroutines, each adding 1 to what
// it receives from its right and passing it left.
TEST_CASE("chan: a long chain of goroutines passes a value along (Go test/chan/goroutines.go)", "[chan]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int n = static_cast<int>(goro_test::scale(10000));
  int got = 0;
  goro::run(
      [&] {
        goro::chan<int> leftmost;
        goro::chan<int> left = leftmost, right;
        for (int i = 0; i < n; ++i) {
          right = goro::chan<int>();
          goro::go([left, right] { left.send(1 + *right.recv()); });
          left = right;
        }
        goro::go([right] { right.send(0); });
        got = *leftmost.recv();
      },
      goro::config{.procs = procs});
  CHECK(got == n);
}

// Go: test/chan/sieve1.go: the concurrent prime sieve, a daisy chain of filters.
TEST_CASE("chan: the concurrent prime sieve (Go test/chan/sieve1.go)", "[chan]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<int> primes;
  goro::run(
      [&] {
        goro::chan<int> ch;
        goro::chan<int> quit;
        goro::go([ch, quit] {
          for (int i = 2;; ++i) {
            std::size_t k = goro::select(goro::send_case(ch, i, [] {}), goro::recv_case(quit, [](auto) {}));
            if (k == 1) return;
          }
        });
        std::vector<goro::chan<int>> chain{ch};
        for (int i = 0; i < 25; ++i) {
          goro::chan<int> in = chain.back();
          int prime = *in.recv();
          primes.push_back(prime);
          goro::chan<int> out;
          goro::go([in, out, prime, quit] {
            for (;;) {
              auto v = in.recv();
              if (!v) return;
              if (*v % prime == 0) continue;
              std::size_t k = goro::select(goro::send_case(out, *v, [] {}), goro::recv_case(quit, [](auto) {}));
              if (k == 1) return;
            }
          });
          chain.push_back(out);
        }
        quit.close();
      },
      goro::config{.procs = procs});
  CHECK(primes == std::vector<int>{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97});
}

// Go: test/chan/nonblock.go: non-blocking sends and receives meet blocking
// partners, for several element types, unbuffered and with one slot.
namespace {
template <class T>
std::string nonblock_round(int buffer, T to_receiver, T from_sender) {
  goro::chan<T> c(buffer);
  goro::chan<bool> sync;
  if (c.try_recv()) return "value from empty chan";
  goro::go([c, sync, to_receiver] {
    auto v = c.recv();
    sync.send(v == to_receiver);
  });
  int tries = 0;
  T v = to_receiver;
  while (!c.try_send(v)) {
    if (++tries > 100000) return "receiver never ready";
    goro::yield();
  }
  if (sync.recv() != true) return "receiver got the wrong value";
  goro::go([c, sync, from_sender] {
    c.send(from_sender);
    sync.send(true);
  });
  if (buffer > 0) (void)sync.recv();
  tries = 0;
  std::optional<T> got;
  while (!(got = c.try_recv())) {
    if (++tries > 100000) return "sender never ready";
    goro::yield();
  }
  if (*got != from_sender) return "sender's value corrupted";
  if (buffer == 0) (void)sync.recv();
  return "";
}
}  // namespace

TEST_CASE("chan: non-blocking operations meet blocking partners (Go test/chan/nonblock.go)", "[chan][try]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::vector<std::string> errs;
  goro::run(
      [&] {
        for (int buffer = 0; buffer < 2; ++buffer) {
          for (auto e : {nonblock_round<std::int32_t>(buffer, 123, 234), nonblock_round<std::int64_t>(buffer, 123456, 234567),
                         nonblock_round<std::string>(buffer, "hello", "hello again"),
                         nonblock_round<std::vector<int>>(buffer, {1, 2, 3}, {4, 5})})
            if (!e.empty()) errs.push_back("buffer " + std::to_string(buffer) + ": " + e);
        }
      },
      goro::config{.procs = procs});
  INFO(join(errs));
  CHECK(errs.empty());
}

// The Go tests that do not apply: TestShrinkStackDuringBlockedSend and
// TestNoShrinkStackWhileParking (goro's stacks do not move or shrink),
// TestChanSendInterface (no interface conversions; see the select tests for
// sends of values that may or may not be taken).
