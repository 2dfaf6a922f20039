// goro::context, with_cancel / with_deadline / with_timeout, stop_token,
// sleep_for(d, ctx) and net::dial(addr, ctx): Go's context_test.go
// behaviours (each case names the Go test it ports), plus what goro adds:
// nothing left behind by a cancelled or dropped context, std::stop_token.
// Threaded cases run at procs 1, 2 and 4; the file also runs in
// deterministic mode over seeds (tests/CMakeLists.txt).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "goro.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

// children: how many children are linked to ctx's node (detail access: the
// public API has no way to see the tree, which is the point).
std::size_t children(const goro::context& ctx) {
  goro::detail::ctx_node* n = goro::detail::ctx_access::node(ctx);
  if (n == nullptr) return 0;
  goro::detail::rt_lock_guard lk(n->mu);
  std::size_t k = 0;
  for (auto* c = n->children; c != nullptr; c = c->sib_next) ++k;
  return k;
}

// pending_timers: the timers pending in the caller's runtime.
std::size_t pending_timers() {
  std::size_t k = 0;
  for (goro::detail::p* pp : goro::detail::current_sched()->allp) {
    goro::detail::rt_lock_guard lk(pp->timers.lock);
    k += pp->timers.size_locked();
  }
  return k;
}

bool is_done(const goro::context& ctx) {
  return goro::select(goro::recv_case(ctx.done(), [](auto) {}), goro::default_case([] {})) == 0;
}

long rss_kb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

TEST_CASE("context: background is never cancelled (TestBackground)", "[context]") {
  goro::run([] {
    goro::context bg;
    CHECK(!bg.err());
    CHECK(!bg.done());  // the nil channel
    CHECK(!bg.deadline());
    CHECK(!bg.stop_token().stop_possible());
    auto [ctx, cancel] = goro::with_cancel(bg);
    CHECK(!ctx.err());
    CHECK(ctx.done());
    CHECK(!is_done(ctx));
    cancel();
    CHECK(!bg.err());
  });
}

TEST_CASE("context: cancel reaches every descendant, never the parent (TestWithCancel, TestParentFinishesChild, TestChildFinishesFirst)", "[context]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        auto [root, cancel_root] = goro::with_cancel(goro::context());
        auto [a, cancel_a] = goro::with_cancel(root);
        auto [b, cancel_b] = goro::with_cancel(a);
        auto [c, cancel_c] = goro::with_cancel(root);
        CHECK(children(root) == 2);
        CHECK(children(a) == 1);

        // A child's cancel: the child and below, not the parent; it leaves the parent's list.
        cancel_a();
        CHECK(a.err() == std::errc::operation_canceled);
        CHECK(b.err() == std::errc::operation_canceled);
        CHECK(is_done(a));
        CHECK(is_done(b));
        CHECK(!root.err());
        CHECK(!c.err());
        CHECK(!is_done(root));
        CHECK(children(root) == 1);

        // A goroutine waiting on a grandchild's done() is woken by the root's cancel.
        auto [d, cancel_d] = goro::with_cancel(c);
        goro::wait_group wg;
        std::atomic<bool> woke{false};
        wg.go([&, d = d] {
          goro::select(goro::recv_case(d.done(), [](auto) {}));
          woke = d.err() == std::errc::operation_canceled;
        });
        cancel_root();
        wg.wait();
        CHECK(woke);
        CHECK(c.err() == std::errc::operation_canceled);
        CHECK(children(root) == 0);
        CHECK(children(c) == 0);

        // Cancelling again does nothing; the error stays the first one.
        cancel_root();
        cancel_c();
        CHECK(root.err() == std::errc::operation_canceled);
        // A child of a cancelled parent is born cancelled and unlinked.
        auto [e, cancel_e] = goro::with_cancel(root);
        CHECK(e.err() == std::errc::operation_canceled);
        CHECK(is_done(e));
        CHECK(children(root) == 0);
      },
      goro::config{.procs = procs});
}

TEST_CASE("context: deadlines cancel with timed_out, the parent's earlier deadline wins (TestDeadline, TestTimeout)", "[context][deadline]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        auto t0 = goro::now();
        auto [p, cancel_p] = goro::with_timeout(goro::context(), 50ms);
        REQUIRE(p.deadline());
        CHECK(*p.deadline() >= t0 + 50ms);
        // A later own deadline: the parent's is reported, and cancels it.
        auto [c, cancel_c] = goro::with_deadline(p, goro::now() + 1h);
        CHECK(c.deadline() == p.deadline());
        // An earlier own deadline is its own.
        auto [e, cancel_e] = goro::with_timeout(p, 10ms);
        CHECK(*e.deadline() < *p.deadline());

        goro::select(goro::recv_case(e.done(), [](auto) {}));
        CHECK(e.err() == std::errc::timed_out);
        CHECK(goro::now() - t0 >= 10ms);
        CHECK(!p.err());

        goro::select(goro::recv_case(c.done(), [](auto) {}));
        CHECK(goro::now() - t0 >= 50ms);
        CHECK(c.err() == std::errc::timed_out);
        CHECK(p.err() == std::errc::timed_out);
        CHECK(goro::now() - t0 < 30s);  // generous: only "it fired, not never"

        // A deadline already past: cancelled at once.
        auto [q, cancel_q] = goro::with_deadline(goro::context(), goro::now() - 1s);
        CHECK(q.err() == std::errc::timed_out);
        auto [r, cancel_r] = goro::with_deadline(goro::context(), goro::clock::time_point::min());
        CHECK(r.err() == std::errc::timed_out);
      },
      goro::config{.procs = procs});
}

TEST_CASE("context: cancel before the deadline gives canceled and removes the timer (TestCanceledTimeout)", "[context][deadline]") {
  goro::run([] {
    std::size_t before = pending_timers();
    auto [ctx, cancel] = goro::with_timeout(goro::context(), 1h);
    CHECK(pending_timers() == before + 1);
    cancel();
    CHECK(ctx.err() == std::errc::operation_canceled);
    CHECK(pending_timers() == before);
  });
}

TEST_CASE("context: durations saturate: max() and 300 years mean never", "[context][deadline]") {
  goro::run([] {
    using years = std::chrono::duration<long, std::ratio<31556952>>;
    auto [a, ca] = goro::with_timeout(goro::context(), std::chrono::hours::max());
    auto [b, cb] = goro::with_timeout(goro::context(), std::chrono::nanoseconds::max());
    auto [c, cc] = goro::with_timeout(goro::context(), years(300));
    auto [d, cd] = goro::with_deadline(goro::context(), goro::clock::time_point::max());
    goro::sleep_for(5ms);
    CHECK(!a.err());
    CHECK(!b.err());
    CHECK(!c.err());
    CHECK(!d.err());
    auto [e, ce] = goro::with_timeout(goro::context(), -1s);
    CHECK(e.err() == std::errc::timed_out);
  });
}

TEST_CASE("context: a dropped context leaves nothing behind: no timer, no child link", "[context]") {
  goro::run([] {
    auto [root, cancel_root] = goro::with_cancel(goro::context());
    std::size_t before = pending_timers();
    {
      auto [a, cancel_a] = goro::with_timeout(root, 1h);
      auto [b, cancel_b] = goro::with_cancel(a);
      CHECK(children(root) == 1);
      CHECK(pending_timers() == before + 1);
    }
    CHECK(children(root) == 0);
    CHECK(pending_timers() == before);
    // A parent nobody holds stays while a child lives, and still carries
    // the grandparent's cancellation down.
    goro::context grandchild;
    {
      auto [mid, cancel_mid] = goro::with_cancel(root);
      grandchild = goro::with_cancel(mid).ctx;
    }
    CHECK(children(root) == 1);
    cancel_root();
    CHECK(grandchild.err() == std::errc::operation_canceled);
    CHECK(is_done(grandchild));
  });
}

TEST_CASE("context: a million derive-and-cancel from a long-lived parent leave its child list empty and RSS flat", "[context][memory]") {
  goro::run([] {
    auto [root, cancel_root] = goro::with_timeout(goro::context(), 1h);
    const long n = goro_test::scale(1'000'000);
    long rss_first = 0;
    for (long i = 0; i < n; ++i) {
      auto [c, cancel] = goro::with_cancel(root);
      if (i % 3 == 0) (void)c.done();  // some with a done channel
      cancel();
      if (i == 999) rss_first = rss_kb();
    }
    CHECK(children(root) == 0);
    long rss_end = rss_kb();
    INFO("RSS after 1000: " << rss_first << " kB, after " << n << ": " << rss_end << " kB");
    // The sanitizers' allocators hold freed memory back (ASan's quarantine,
    // TSan's shadow): the RSS says something only in a plain build.
    if (!GORO_TSAN && !GORO_ASAN) CHECK(rss_end <= rss_first + rss_first / 10);
  });
}

TEST_CASE("context: concurrent cancels from many goroutines cancel once (TestSimultaneousCancels, TestInterlockedCancels)", "[context]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        const int rounds = static_cast<int>(goro_test::scale(200));
        for (int r = 0; r < rounds; ++r) {
          auto [root, cancel_root] = goro::with_cancel(goro::context());
          std::vector<goro::cancel_handle> kids;
          for (int i = 0; i < 16; ++i) kids.push_back(goro::with_cancel(root));
          std::atomic<int> stops{0};
          std::stop_callback cb(root.stop_token(), [&] { stops.fetch_add(1); });
          goro::wait_group wg;
          for (int i = 0; i < 8; ++i) wg.go([&, cancel = cancel_root] { cancel(); });
          for (auto& k : kids) wg.go([&k] { k.cancel(); });
          wg.wait();
          CHECK(stops.load() == 1);
          CHECK(root.err() == std::errc::operation_canceled);
          for (auto& k : kids) CHECK(k.ctx.err() == std::errc::operation_canceled);
          CHECK(children(root) == 0);
        }
      },
      goro::config{.procs = procs});
}

TEST_CASE("context: deriving while the parent is cancelled or expires: every child ends, no timer or link is left", "[context][deadline]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        const int rounds = static_cast<int>(goro_test::scale(100));
        for (int r = 0; r < rounds; ++r) {
          goro::cancel_handle h = r % 2 == 0 ? goro::with_cancel(goro::context())
                                             : goro::with_timeout(goro::context(), std::chrono::microseconds(200));
          goro::context root = h.ctx;  // (a lambda may not name a structured binding in clang 14)
          auto& cancel_root = h.cancel;
          std::vector<goro::context> kept(32);
          goro::wait_group wg;
          for (int i = 0; i < 4; ++i)
            wg.go([&, i] {
              for (int k = i; k < 32; k += 4) {
                // own deadlines just ahead, or already past, or later than the root's
                auto d = std::chrono::microseconds((k % 3) * 100 - 50);
                kept[static_cast<std::size_t>(k)] = goro::with_timeout(root, k % 5 == 0 ? 1h : d).ctx;
                goro::yield();
              }
            });
          if (r % 2 == 0) cancel_root();
          wg.wait();
          cancel_root();
          for (auto& c : kept) CHECK(c.err());
          CHECK(children(root) == 0);
          kept.clear();
          CHECK(pending_timers() == 0);
        }
      },
      goro::config{.procs = procs});
}

TEST_CASE("context: cancelling a deep chain and a wide tree (TestLayersCancel, TestLayersTimeout)", "[context]") {
  goro::run([] {
    // Depth: the walk is iterative, so depth is not bounded by the stack.
    const int depth = static_cast<int>(goro_test::scale(20'000));
    auto [root, cancel_root] = goro::with_cancel(goro::context());
    std::vector<goro::context> chain{root};
    for (int i = 0; i < depth; ++i) chain.push_back(goro::with_cancel(chain.back()).ctx);
    auto [leaf_t, cancel_leaf_t] = goro::with_timeout(chain.back(), 1h);
    cancel_root();
    for (auto& c : chain) REQUIRE(c.err() == std::errc::operation_canceled);
    CHECK(leaf_t.err() == std::errc::operation_canceled);

    // Layers under a timeout: everything ends with timed_out.
    auto [t, cancel_t] = goro::with_timeout(goro::context(), 20ms);
    std::vector<goro::context> layer{t};
    for (int i = 0; i < 50; ++i) layer.push_back(goro::with_cancel(layer[static_cast<std::size_t>(i) / 2]).ctx);
    // The deadline's walk runs on the timer's side: a node seen done says
    // nothing yet of its siblings, so each is waited for.
    for (auto& c : layer) {
      goro::select(goro::recv_case(c.done(), [](auto) {}));
      CHECK(c.err() == std::errc::timed_out);
    }
  });
}

TEST_CASE("context: stop_token callbacks run exactly once, on cancel or at the deadline", "[context][stop_token]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        // Explicit cancel: the callback runs on the cancelling goroutine, before cancel returns.
        {
          auto [ctx, cancel] = goro::with_cancel(goro::context());
          auto [child, cancel_child] = goro::with_cancel(ctx);
          std::atomic<int> n{0};
          std::stop_callback cb(child.stop_token(), [&] { n.fetch_add(1); });
          cancel();
          CHECK(n.load() == 1);
          cancel_child();
          CHECK(n.load() == 1);
          CHECK(child.stop_token().stop_requested());
        }
        // A token taken after the cancel is already stopped; a callback runs at once.
        {
          auto [ctx, cancel] = goro::with_cancel(goro::context());
          cancel();
          int n = 0;
          std::stop_callback cb(ctx.stop_token(), [&] { ++n; });
          CHECK(n == 1);
        }
        // A deadline: the callback runs on a goroutine (it may block), once.
        {
          auto [ctx, cancel] = goro::with_timeout(goro::context(), 10ms);
          goro::chan<int> ran(1);
          std::atomic<int> n{0};
          std::stop_callback cb(ctx.stop_token(), [&] {
            n.fetch_add(1);
            ran.send(1);  // may park: it runs on a goroutine
          });
          CHECK(ran.recv() == 1);
          CHECK(n.load() == 1);
          CHECK(ctx.err() == std::errc::timed_out);
          cancel();
          CHECK(n.load() == 1);
        }
        // A dropped context with a stop_token ends its relay goroutine. (The
        // previous relay may still be finishing after its callback's send:
        // on another P, or in deterministic mode after the send's wake point.)
        for (int i = 0; i < 1000 && goro::num_goroutines() > 1; ++i) goro::yield();
        {
          auto [ctx, cancel] = goro::with_timeout(goro::context(), 1h);
          (void)ctx.stop_token();
          CHECK(goro::num_goroutines() == 2);
        }
        for (int i = 0; i < 1000 && goro::num_goroutines() > 1; ++i) goro::yield();
        CHECK(goro::num_goroutines() == 1);
      },
      goro::config{.procs = procs});
}

TEST_CASE("context: cancel from a plain thread", "[context][threads]") {
  goro::run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::context());
    std::atomic<int> n{0};
    std::stop_callback cb(ctx.stop_token(), [&] { n.fetch_add(1); });
    std::thread t([cancel = cancel] { cancel(); });
    goro::select(goro::recv_case(ctx.done(), [](auto) {}));
    t.join();
    CHECK(ctx.err() == std::errc::operation_canceled);
    CHECK(n.load() == 1);
  });
}

TEST_CASE("context: sleep_for(d, ctx) sleeps, or ends with the context's error", "[context][sleep]") {
  auto procs = GENERATE(1u, 2u, 4u);
  goro::run(
      [] {
        auto [ctx, cancel] = goro::with_cancel(goro::context());
        auto t0 = goro::now();
        goro::sleep_for(5ms, ctx);  // a live context: a plain sleep
        CHECK(goro::now() - t0 >= 5ms);

        goro::wait_group wg;
        std::atomic<int> canceled{0};
        for (int i = 0; i < 8; ++i)
          wg.go([&, c = ctx] {
            try {
              goro::sleep_for(1h, c);
            } catch (const goro::canceled_error& e) {
              if (e.code() == std::errc::operation_canceled) canceled.fetch_add(1);
            }
          });
        for (int i = 0; i < 100 && goro::debug::dump().find("[sleep") == std::string::npos; ++i) goro::sleep_for(1ms);
        cancel();
        wg.wait();
        CHECK(canceled.load() == 8);
        CHECK_THROWS_AS(goro::sleep_for(1h, ctx), goro::canceled_error);  // already cancelled: at once
        CHECK_THROWS_AS(goro::sleep_for(0s, ctx), goro::canceled_error);

        auto [dl, cancel_dl] = goro::with_timeout(goro::context(), 10ms);
        CHECK_THROWS_AS(goro::sleep_for(1h, dl), goro::timeout_error);
        CHECK(dl.err() == std::errc::timed_out);
        // The sleep's own timer and the context's waiter are gone.
        CHECK(pending_timers() == 0);
        // A deadline later than the sleep: the sleep ends normally.
        auto [late, cancel_late] = goro::with_timeout(goro::context(), 1h);
        goro::sleep_for(1ms, late);
        CHECK(!late.err());
      },
      goro::config{.procs = procs});
}

TEST_CASE("context: sleep_for(d, ctx) on a plain thread", "[context][sleep][threads]") {
  goro::run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::context());
    std::atomic<bool> threw{false};
    std::thread t([&, c = ctx] {
      try {
        goro::sleep_for(1h, c);
      } catch (const goro::canceled_error&) {
        threw = true;
      }
    });
    goro::sleep_for(10ms);
    cancel();
    t.join();
    CHECK(threw);
  });
}

TEST_CASE("context: goroutines blocked in sleep_for(d, ctx) when main returns are unwound", "[context][shutdown]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::atomic<int> unwound{0}, started{0};
  goro::run(
      [&] {
        auto [ctx, cancel] = goro::with_timeout(goro::context(), 1h);
        for (int i = 0; i < 4; ++i)
          goro::go([&, c = ctx] {
            struct mark {
              std::atomic<int>& n;
              ~mark() { n.fetch_add(1); }
            } m{unwound};
            started.fetch_add(1);
            goro::sleep_for(1h, c);
          });
        (void)ctx.stop_token();  // and the relay goroutine
        while (started.load() < 4) goro::yield();  // a goroutine not started by then would never run
      },
      goro::config{.procs = procs});
  CHECK(unwound.load() == 4);
}

// dial(addr, ctx). A listener with a full accept queue drops further SYNs, so
// a connect to it stays in progress: that is where a cancel must reach it.
namespace {
struct full_listener {
  int fd = -1;
  std::string addr;
  std::vector<goro::net::conn> fillers;
  full_listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 0) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("full_listener: setup failed");
    addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  }
  // fill: dials until one does not connect within 100 ms; true if it timed out.
  bool fill() {
    for (int i = 0; i < 16; ++i) {
      try {
        fillers.push_back(goro::net::dial(addr, 100ms));
      } catch (const goro::timeout_error&) {
        return true;
      }
    }
    return false;
  }
  ~full_listener() {
    fillers.clear();
    ::close(fd);
  }
};
}  // namespace

TEST_CASE("context: dial(addr, ctx) ends promptly when ctx is cancelled or times out during the connect", "[context][net][threaded]") {
  auto procs = GENERATE(1u, 2u, 4u);
  int fds_before = goro_test::open_fd_count();
  goro::run(
      [] {
        full_listener fl;
        REQUIRE(fl.fill());  // dial(addr, timeout) timed out: the timeout path works

        auto [ctx, cancel] = goro::with_cancel(goro::context());
        goro::wait_group wg;
        std::atomic<bool> canceled{false};
        wg.go([&, c = ctx] {
          try {
            goro::net::dial(fl.addr, c);
          } catch (const goro::canceled_error&) {
            canceled = true;
          }
        });
        while (goro::debug::dump().find("[IO wait") == std::string::npos) goro::yield();
        auto t0 = goro::now();
        cancel();
        wg.wait();
        CHECK(canceled);
        CHECK(goro::now() - t0 < 5s);

        auto [dl, cancel_dl] = goro::with_timeout(goro::context(), 30ms);
        CHECK_THROWS_AS(goro::net::dial(fl.addr, dl), goro::timeout_error);
        CHECK_THROWS_AS(goro::net::dial(fl.addr, ctx), goro::canceled_error);  // already cancelled
      },
      goro::config{.procs = procs});
  CHECK(goro_test::open_fd_count() == fds_before);  // no socket left behind
}

TEST_CASE("context: dial(addr, ctx) with a live context connects as dial(addr) does", "[context][net][threads]") {
  goro::run([] {
    goro::net::listener ln = goro::net::listen("127.0.0.1:0");
    auto [ctx, cancel] = goro::with_timeout(goro::context(), 1h);
    goro::wait_group wg;
    wg.go([&] {
      goro::net::conn s = ln.accept();
      s.write(std::as_bytes(std::span("hi", 2)));
    });
    goro::net::conn c = goro::net::dial(ln.addr(), ctx);
    std::byte buf[2];
    CHECK(c.read(buf) == 2);
    wg.wait();
    goro::net::conn c2 = goro::net::dial("localhost:" + ln.addr().substr(ln.addr().rfind(':') + 1), ctx);  // a name: looked up on a thread
    CHECK(!c2.remote_addr().empty());
    ln.accept();
  });
}
