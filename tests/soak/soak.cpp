// tests/soak/soak.cpp — the soak test (`tools/check soak`; docs/design.md,
// "Tests and CI"): a mixed workload at procs = 4 for $GORO_SOAK_SECONDS
// (default 60), then exact counts and a flat RSS.
//
// The workload, all at once:
//   - producers and consumers over a buffered and an unbuffered channel; two
//     of the buffered channel's producers are plain OS threads;
//   - a sparse channel read only through select with a timeout (goro::after);
//   - goroutines incrementing a mutex-protected counter;
//   - a TCP echo server with two persistent clients (every byte checked), and
//     close-to-cancel cycles: one goroutine blocked in read on a fresh
//     connection, another closes it, the read must end with closed_error;
//   - rounds of short-lived goroutines (spawn and exit churn);
//   - one timer reset from many goroutines while another receives from it,
//     and private timers reset, received and stopped in a loop (Go 1.23
//     rules: exactly one value per reset, none after stop).
// At the end every value sent on a channel was received exactly once (per
// producer: count, sum and sum of squares of its sequence numbers), every
// counter adds up, and the resident set size at the end is within 10 % of
// its size after the warm-up (the first 20 % of the time, at least 8 s). One
// summary line goes to stdout; the exit status is 0 on success, 1 on a failed
// check.
//
// Not a ctest test (it takes a minute): tests/CMakeLists.txt builds it only
// when asked (`cmake --build <dir> --target soak`).
#include "goro.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

// rss_bytes: the resident set size now (/proc/self/statm). With read(2), not
// iostreams: their code would be paged in by the first measurement and count
// as growth in the next.
long rss_bytes() {
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char* end = nullptr;
  (void)std::strtol(buf, &end, 10);                // size
  long resident = std::strtol(end, nullptr, 10);  // resident
  return resident * sysconf(_SC_PAGESIZE);
}

double mib(long bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int soak_seconds() {
  const char* s = std::getenv("GORO_SOAK_SECONDS");
  int n = s != nullptr ? std::atoi(s) : 60;
  return n > 0 ? n : 60;
}

// A small per-goroutine PRNG (xorshift32): delays and message lengths.
struct rng {
  std::uint32_t x;
  explicit rng(std::uint32_t seed) : x(seed * 2654435761u + 1) {}
  std::uint32_t next() {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  }
  std::uint32_t below(std::uint32_t n) { return next() % n; }
};

// ---------------------------------------------------------------------------
// Channel streams: each value is (producer << 40) | sequence number.

constexpr int max_producers = 8;

// tally: what consumers saw from one producer. Count, sum and sum of squares
// of the sequence numbers (mod 2^64): a value lost or received twice changes
// them.
struct tally {
  std::uint64_t n = 0, sum = 0, sq = 0;
  void add(std::uint64_t seq) {
    ++n;
    sum += seq;
    sq += seq * seq;
  }
  void merge(const tally& o) {
    n += o.n;
    sum += o.sum;
    sq += o.sq;
  }
  // expected: the tally of sequence numbers 0 .. count-1.
  static tally expected(std::uint64_t count) {
    tally t;
    if (count == 0) return t;
    unsigned __int128 c = count;
    t.n = count;
    t.sum = static_cast<std::uint64_t>(c * (c - 1) / 2);
    t.sq = static_cast<std::uint64_t>((c - 1) * c * (2 * c - 1) / 6);
    return t;
  }
  bool operator==(const tally&) const = default;
};

using tallies = std::array<tally, max_producers>;

struct stream {
  const char* name;
  goro::chan<std::uint64_t> ch;
  std::array<std::atomic<std::uint64_t>, max_producers> sent{};  // per producer, stored when it stops
  int producers = 0;
  goro::wait_group producing;  // producers still sending; the closer waits, then closes ch
  goro::wait_group consuming;
  goro::mutex mu;
  tallies got{};  // merged by each consumer when ch is drained

  stream(const char* n, int cap) : name(n), ch(cap) {}

  static std::uint64_t value(int p, std::uint64_t seq) { return (static_cast<std::uint64_t>(p) << 40) | seq; }
  static int producer_of(std::uint64_t v) { return static_cast<int>(v >> 40); }
  static std::uint64_t seq_of(std::uint64_t v) { return v & ((std::uint64_t{1} << 40) - 1); }

  void merge(const tallies& local) {
    std::lock_guard<goro::mutex> lk(mu);
    for (int p = 0; p < max_producers; ++p) got[p].merge(local[p]);
  }
  std::uint64_t total_sent() const {
    std::uint64_t n = 0;
    for (int p = 0; p < producers; ++p) n += sent[p].load();
    return n;
  }
  // check: an error message, or empty.
  std::string check() const {
    for (int p = 0; p < max_producers; ++p) {
      std::uint64_t n = p < producers ? sent[p].load() : 0;
      if (!(got[p] == tally::expected(n)))
        return std::string(name) + ": producer " + std::to_string(p) + " sent " + std::to_string(n) + " values, consumers got " +
               std::to_string(got[p].n) + " (or other sequence numbers)";
    }
    return {};
  }
};

// ---------------------------------------------------------------------------

struct soak {
  int seconds = soak_seconds();
  std::atomic<bool> stop{false};
  std::vector<std::string> errors;  // main goroutine only
  std::atomic<int> bad{0};          // failed checks inside workers
  std::atomic<std::uint64_t> first_bad_line{0};

  void fail(int line) {
    if (bad.fetch_add(1) == 0) first_bad_line.store(static_cast<std::uint64_t>(line));
  }

  stream buffered{"buffered", 128};
  stream unbuffered{"unbuffered", 0};
  stream sparse{"sparse (select)", 4};
  std::atomic<std::uint64_t> select_timeouts{0};

  goro::mutex counter_mu;
  std::uint64_t counter = 0;  // guarded by counter_mu
  std::atomic<std::uint64_t> counter_adds{0};

  std::atomic<std::uint64_t> echo_msgs{0}, echo_bytes{0};
  std::atomic<std::uint64_t> cancel_cycles{0}, cancel_seen{0};
  std::atomic<std::uint64_t> spawned{0}, spawn_rounds{0};

  std::atomic<std::uint64_t> timer_resets{0}, timer_fires{0}, timer_stops{0};
  std::atomic<std::uint64_t> shared_resets{0}, shared_fires{0};

  long rss_warm = 0, rss_end = 0;

  // -------------------------------------------------------------------------
  // Channels.

  void start_producer(stream& s, int p, goro::wait_group& all, bool sparse_rate) {
    all.go([this, &s, p, sparse_rate] {
      std::uint64_t seq = 0;
      while (!stop.load(relaxed)) {
        s.ch.send(stream::value(p, seq++));
        if (sparse_rate) goro::sleep_for(1500us);  // slower than the consumers' 1 ms timeouts
      }
      s.sent[p].store(seq);
      s.producing.done();
    });
  }

  void start_consumer(stream& s, goro::wait_group& all) {
    all.go([this, &s] {
      tallies local{};
      for (std::uint64_t v : s.ch) {
        int p = stream::producer_of(v);
        if (p >= s.producers) fail(__LINE__);
        else local[p].add(stream::seq_of(v));
      }
      s.merge(local);
      s.consuming.done();
    });
  }

  void start_select_consumer(stream& s, goro::wait_group& all) {
    all.go([this, &s] {
      tallies local{};
      bool closed = false;
      while (!closed) {
        goro::select(goro::recv_case(s.ch,
                                     [&](std::optional<std::uint64_t> v) {
                                       if (!v) {
                                         closed = true;
                                         return;
                                       }
                                       int p = stream::producer_of(*v);
                                       if (p >= s.producers) fail(__LINE__);
                                       else local[p].add(stream::seq_of(*v));
                                     }),
                     goro::recv_case(goro::after(1ms), [&](std::optional<goro::clock::time_point>) { select_timeouts.fetch_add(1, relaxed); }));
      }
      s.merge(local);
      s.consuming.done();
    });
  }

  // closer: once every producer of s has stopped, close its channel.
  void start_closer(stream& s, goro::wait_group& all) {
    all.go([&s] {
      s.producing.wait();
      s.ch.close();
    });
  }

  // -------------------------------------------------------------------------
  // TCP: an echo server, two persistent clients, close-to-cancel cycles.

  static void echo(goro::net::conn c) {
    std::array<std::byte, 4096> buf;
    try {
      while (std::size_t n = c.read(buf)) c.write(std::span<const std::byte>(buf.data(), n));
    } catch (const std::system_error&) {  // the client went away
    }
  }

  void start_echo_client(const std::string& addr, int id, goro::wait_group& all) {
    all.go([this, addr, id] {
      goro::net::conn c = goro::net::dial(addr);
      rng r(static_cast<std::uint32_t>(100 + id));
      std::vector<std::byte> out(8192), in(8192);
      std::uint32_t k = 0;
      while (!stop.load(relaxed)) {
        std::size_t len = 1 + r.below(static_cast<std::uint32_t>(out.size()));
        for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<std::byte>((k + i * 31) & 0xff);
        c.write(std::span<const std::byte>(out.data(), len));
        std::size_t got = 0;
        while (got < len) {
          std::size_t n = c.read(std::span<std::byte>(in.data() + got, len - got));
          if (n == 0) {
            fail(__LINE__);  // the server closed early
            return;
          }
          got += n;
        }
        for (std::size_t i = 0; i < len; ++i)
          if (in[i] != out[i]) {
            fail(__LINE__);
            break;
          }
        echo_msgs.fetch_add(1, relaxed);
        echo_bytes.fetch_add(len, relaxed);
        ++k;
      }
      c.close();
    });
  }

  // Close-to-cancel: a reader goroutine blocks in read on a fresh connection
  // (the server side holds it open and never writes: nothing arrives); the
  // cycle goroutine closes it: the read must end with closed_error. Both are
  // long-lived, so the cycles add no goroutine churn (see "spawn churn").
  // Rate-limited: every cycle leaves a socket in TIME_WAIT.
  void start_cancel_cycles(goro::net::listener& ln, goro::wait_group& clients, goro::wait_group& servers) {
    std::string addr = ln.addr();
    servers.go([&ln] {  // the server side: holds the last accepted conn open
      goro::net::conn held;
      try {
        for (;;) held = ln.accept();  // the assignment closes the previous one
      } catch (const goro::net::closed_error&) {  // ln.close()
      }
    });
    goro::chan<goro::net::conn*> to_reader;
    goro::chan<int> read_ended;
    clients.go([this, to_reader, read_ended] {
      for (;;) {
        std::optional<goro::net::conn*> c = to_reader.recv();
        if (!c) return;
        std::array<std::byte, 16> b;
        try {
          (void)(*c)->read(b);
          fail(__LINE__);  // data or end of stream: the close did not cancel the read
        } catch (const goro::net::closed_error&) {
          cancel_seen.fetch_add(1, relaxed);
        }
        read_ended.send(1);
      }
    });
    clients.go([this, addr, to_reader, read_ended] {
      rng r(7);
      while (!stop.load(relaxed)) {
        goro::net::conn c = goro::net::dial(addr);
        to_reader.send(&c);
        if (r.below(4) == 0) goro::yield();  // sometimes before the read parks
        else goro::sleep_for(std::chrono::microseconds(r.below(500)));
        c.close();
        (void)read_ended.recv();
        cancel_cycles.fetch_add(1, relaxed);
        goro::sleep_for(4ms);
      }
      to_reader.close();
    });
  }

  // Spawn churn: rounds of 16 short-lived goroutines (shallow: their stacks
  // are recycled through the g caches at a high rate and reach their working
  // set within the warm-up). Under TSan a round every 100 ms only: every
  // goroutine is a TSan fiber, and TSan keeps the trace of each finished one
  // until it resets (its memory, not goro's, would grow with the churn).
  void start_spawn_churn(goro::wait_group& all) {
    all.go([this] {
      while (!stop.load(relaxed)) {
        goro::wait_group round;
        for (int i = 0; i < 16; ++i)
          round.go([this] {
            spawned.fetch_add(1, relaxed);
            goro::yield();
          });
        round.wait();
        spawn_rounds.fetch_add(1, relaxed);
        if constexpr (GORO_TSAN) goro::sleep_for(100ms);
      }
    });
  }

  // -------------------------------------------------------------------------
  // Timers.

  // Private timers: after a reset exactly one value arrives; reset and stop
  // report the timer active exactly when it is (Go 1.23: a fired value not
  // yet received counts); after stop nothing arrives.
  void start_private_timer(int id, goro::wait_group& all) {
    all.go([this, id] {
      goro::timer t(1h);
      if (!t.stop()) fail(__LINE__);
      rng r(static_cast<std::uint32_t>(200 + id));
      std::uint64_t i = 0;
      while (!stop.load(relaxed)) {
        if (t.reset(std::chrono::microseconds(20 + r.below(300)))) fail(__LINE__);  // drained or stopped before
        timer_resets.fetch_add(1, relaxed);
        if (++i % 4 == 0) {
          if (!t.stop()) fail(__LINE__);  // pending, or fired and not received: active
          if (t.c().try_recv()) fail(__LINE__);
          timer_stops.fetch_add(1, relaxed);
        } else {
          std::optional<goro::clock::time_point> v = t.c().recv();
          if (!v || *v > goro::now()) fail(__LINE__);
          timer_fires.fetch_add(1, relaxed);
        }
      }
    });
  }

  void start_shared_timer(goro::timer& shared, goro::chan<int> quit, int resetters, goro::wait_group& resetting, goro::wait_group& all) {
    for (int id = 0; id < resetters; ++id)
      resetting.go([this, &shared, id] {
        rng r(static_cast<std::uint32_t>(300 + id));
        while (!stop.load(relaxed)) {
          (void)shared.reset(std::chrono::microseconds(50 + r.below(400)));
          shared_resets.fetch_add(1, relaxed);
          goro::sleep_for(std::chrono::microseconds(100 + r.below(900)));
        }
      });
    all.go([this, &shared, quit] {
      bool done = false;
      while (!done)
        goro::select(goro::recv_case(shared.c(),
                                     [&](std::optional<goro::clock::time_point> v) {
                                       if (!v || *v > goro::now()) fail(__LINE__);
                                       shared_fires.fetch_add(1, relaxed);
                                     }),
                     goro::recv_case(quit, [&](std::optional<int>) { done = true; }));
    });
  }

  // -------------------------------------------------------------------------

  void main_goroutine(std::vector<std::thread>& threads) {
    goro::wait_group all;
    // Channels: the buffered one has 3 goroutine and 2 plain-thread producers.
    buffered.producers = 5;
    buffered.producing.add(5);
    for (int p = 0; p < 3; ++p) start_producer(buffered, p, all, false);
    for (int p = 3; p < 5; ++p)
      threads.emplace_back([this, p] {
        std::uint64_t seq = 0;
        while (!stop.load(relaxed)) buffered.ch.send(stream::value(p, seq++));
        buffered.sent[p].store(seq);
        buffered.producing.done();
      });
    buffered.consuming.add(3);
    for (int c = 0; c < 3; ++c) start_consumer(buffered, all);
    start_closer(buffered, all);

    unbuffered.producers = 2;
    unbuffered.producing.add(2);
    for (int p = 0; p < 2; ++p) start_producer(unbuffered, p, all, false);
    unbuffered.consuming.add(2);
    for (int c = 0; c < 2; ++c) start_consumer(unbuffered, all);
    start_closer(unbuffered, all);

    sparse.producers = 1;
    sparse.producing.add(1);
    start_producer(sparse, 0, all, true);
    sparse.consuming.add(2);
    for (int c = 0; c < 2; ++c) start_select_consumer(sparse, all);
    start_closer(sparse, all);

    // Mutex-protected counter.
    for (int w = 0; w < 4; ++w)
      all.go([this] {
        while (!stop.load(relaxed)) {
          for (int i = 0; i < 64; ++i) {
            std::lock_guard<goro::mutex> lk(counter_mu);
            ++counter;
          }
          counter_adds.fetch_add(64, relaxed);
          goro::yield();
        }
      });

    // TCP.
    goro::net::listener ln = goro::net::listen("127.0.0.1:0");
    std::string addr = ln.addr();
    goro::wait_group server, conns;
    server.go([&ln, &conns] {
      try {
        for (;;) conns.go(&soak::echo, ln.accept());
      } catch (const goro::net::closed_error&) {  // ln.close()
      }
    });
    goro::wait_group tcp_clients;
    for (int id = 0; id < 2; ++id) start_echo_client(addr, id, tcp_clients);
    goro::net::listener cancel_ln = goro::net::listen("127.0.0.1:0");
    start_cancel_cycles(cancel_ln, tcp_clients, server);

    start_spawn_churn(all);

    // Timers.
    for (int id = 0; id < 6; ++id) start_private_timer(id, all);
    goro::timer shared(1h);
    goro::chan<int> quit;
    goro::wait_group resetting, shared_recv;
    start_shared_timer(shared, quit, 8, resetting, shared_recv);

    // Run; measure the RSS after the warm-up and at the end, still under load.
    auto total = std::chrono::seconds(seconds);
    // The warm-up: 20 % of the time, at least 8 s (the sanitizer runtimes
    // need about that long to reach their steady state: ASan's quarantine,
    // TSan's traces).
    auto warm = std::max<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(total) / 5, 8s);
    if (warm > total) warm = total;
    (void)rss_bytes();  // its own code paged in before the measurements
    goro::sleep_for(warm);
    rss_warm = rss_bytes();
    goro::sleep_for(total - warm);
    rss_end = rss_bytes();
    stop.store(true);

    // Wind down: producers stop, closers close, consumers drain.
    all.wait();
    tcp_clients.wait();
    cancel_ln.close();
    ln.close();
    server.wait();
    conns.wait();
    resetting.wait();
    (void)shared.stop();
    quit.close();
    shared_recv.wait();
    if (shared.c().try_recv()) fail(__LINE__);  // nothing after stop
  }

  void check() {
    for (stream* s : {&buffered, &unbuffered, &sparse})
      if (std::string e = s->check(); !e.empty()) errors.push_back(e);
    if (counter != counter_adds.load())
      errors.push_back("mutex counter " + std::to_string(counter) + " != " + std::to_string(counter_adds.load()) + " increments");
    if (cancel_seen.load() != cancel_cycles.load())
      errors.push_back("close-to-cancel: " + std::to_string(cancel_seen.load()) + " reads ended with closed_error in " +
                       std::to_string(cancel_cycles.load()) + " cycles");
    if (spawned.load() != 16 * spawn_rounds.load())
      errors.push_back("spawn churn: " + std::to_string(spawned.load()) + " goroutines ran in " + std::to_string(spawn_rounds.load()) +
                       " rounds of 16");
    if (timer_fires.load() + timer_stops.load() != timer_resets.load())
      errors.push_back("private timers: " + std::to_string(timer_resets.load()) + " resets, " + std::to_string(timer_fires.load()) +
                       " values and " + std::to_string(timer_stops.load()) + " stops");
    if (bad.load() != 0)
      errors.push_back(std::to_string(bad.load()) + " failed checks in the workers (first at tests/soak/soak.cpp:" +
                       std::to_string(first_bad_line.load()) + ")");
    // The workload ran: every part did something.
    struct {
      const char* what;
      std::uint64_t n;
    } ran[] = {{"buffered values", buffered.total_sent()},
               {"plain-thread values", buffered.sent[3].load() + buffered.sent[4].load()},
               {"unbuffered values", unbuffered.total_sent()},
               {"select values", sparse.total_sent()},
               {"select timeouts", select_timeouts.load()},
               {"echo messages", echo_msgs.load()},
               {"close-to-cancel cycles", cancel_cycles.load()},
               {"spawned goroutines", spawned.load()},
               {"timer values", timer_fires.load()},
               {"shared timer values", shared_fires.load()}};
    for (auto& r : ran)
      if (r.n == 0) errors.push_back(std::string("no ") + r.what);
    if (static_cast<double>(rss_end) > 1.10 * static_cast<double>(rss_warm))
      errors.push_back("RSS grew more than 10 % after the warm-up");
  }
};

}  // namespace

#if GORO_ASAN
// ASan's quarantine (256 MB by default) would fill for minutes, growing the
// RSS all the while: a small one, full within the warm-up, still catches a use
// of memory freed within the last second or so. $ASAN_OPTIONS adds to this.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=1:thread_local_quarantine_size_kb=64"; }
#endif

int main() {
  auto s = std::make_unique<soak>();
  std::vector<std::thread> threads;
  auto t0 = steady::now();
  goro::run([&] { s->main_goroutine(threads); }, goro::config{.procs = 4});
  for (std::thread& t : threads) t.join();
  double secs = std::chrono::duration<double>(steady::now() - t0).count();
  s->check();
  std::printf(
      "soak: %.1f s, procs 4: channels buffered %llu (plain threads %llu), unbuffered %llu, select %llu (timeouts %llu); "
      "mutex %llu; echo %llu msgs %.1f MiB; close-to-cancel %llu; spawned %llu; timers %llu resets %llu values %llu stops, shared %llu resets "
      "%llu values; RSS %.1f MiB after warm-up, %.1f MiB at end (%+.1f %%): %s\n",
      secs, static_cast<unsigned long long>(s->buffered.total_sent()),
      static_cast<unsigned long long>(s->buffered.sent[3].load() + s->buffered.sent[4].load()),
      static_cast<unsigned long long>(s->unbuffered.total_sent()), static_cast<unsigned long long>(s->sparse.total_sent()),
      static_cast<unsigned long long>(s->select_timeouts.load()), static_cast<unsigned long long>(s->counter),
      static_cast<unsigned long long>(s->echo_msgs.load()), mib(static_cast<long>(s->echo_bytes.load())),
      static_cast<unsigned long long>(s->cancel_cycles.load()), static_cast<unsigned long long>(s->spawned.load()),
      static_cast<unsigned long long>(s->timer_resets.load()),
      static_cast<unsigned long long>(s->timer_fires.load()), static_cast<unsigned long long>(s->timer_stops.load()),
      static_cast<unsigned long long>(s->shared_resets.load()), static_cast<unsigned long long>(s->shared_fires.load()),
      mib(s->rss_warm), mib(s->rss_end), 100.0 * (static_cast<double>(s->rss_end) / static_cast<double>(s->rss_warm) - 1.0),
      s->errors.empty() ? "ok" : "FAILED");
  for (const std::string& e : s->errors) std::printf("soak: FAILED: %s\n", e.c_str());
  return s->errors.empty() ? 0 : 1;
}
