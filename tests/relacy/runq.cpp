// tests/relacy/runq.cpp — Relacy models of goro's per-P run queue
// (goro::detail::runq_ring in include/goro/runq.hpp, Go's runqput/runqputslow/
// runqget/runqgrab/runqsteal), instantiated with N = 4 over goro_rl::atomic so
// Relacy checks the very code the runtime uses.
//
// What is modelled: thread 0 is the owner P of the victim queue `q`; it creates
// Gs (writes each G's payload, an rl::var), puts them (some with next = true,
// i.e. through runnext), gets and runs some, and finally drains the queue. On
// overflow it runs Go's slow path: put_slow moves half of the ring plus the G
// that did not fit to a "global queue", owned by thread 0 alone in the model.
// Other threads are thieves: grab() directly, or steal() into their own
// runq_ring and get() from it, with steal_runnext = true. "Running" a G
// asserts that it is non-null, that its payload is the one written before it
// was queued (a read without happens-before from that write is a Relacy DATA
// RACE), and that it has not run before; after() asserts every G ran exactly
// once and every queue is empty.
//   a: owner put/put(next)/get + one stealing thief   2 threads  random 200k + context bound 3
//   b: owner overflows the ring twice (put_slow to
//      global) + one grabbing thief                   2 threads  random 200k + context bound 2
//   c: owner + two thieves; thief 1 steals from q into
//      its queue, thief 2 grabs from q and thief 1's   3 threads  random 200k + context bound 1
//   d: owner put, put(next), drain + one grab         2 threads  sched_full (exhaustive)
//
// Broken variant: built with -DGORO_RUNQ_BROKEN=1 the same models run against
// runq_ring with its fault injection point GORO_DETAIL_RUNQ_PUBLISH_ORDER set
// to relaxed: put() then stores tail relaxed instead of release.
// A thief's acquire load of tail then no longer synchronises with the owner,
// so it can see a null slot or read the payload without happens-before:
// Relacy must report an assertion failure or a DATA RACE, and this program
// must exit non-zero. That build checks the model's power to catch a missing
// release.
//
// Limits: Relacy executes each thread in program order and only lets loads
// return stale values, so it cannot produce load buffering. The release on the
// consumers' head CAS and the acquire on put()'s head load ("commits consume")
// guard exactly against load buffering; weakening them to relaxed is NOT
// caught here (it shows up at most as a Relacy livelock in model c).
//
// Build and run (exit 0 = every model passed):
//   g++ -std=c++20 -O1 -g -I include -I tests/relacy tests/relacy/runq.cpp -o rq && ./rq
//   (same with clang++-14; add -DGORO_RUNQ_BROKEN=1, or the CMake target's
//   -DGORO_RELACY_BROKEN=1, for the variant that must fail)
//
// Lifetime: rl::atomic and rl::var register with the running Relacy context
// when constructed, so the queues and Gs are per-iteration objects (test_suite
// members; the queues are built in before() and destroyed in after()).
// runq_ring has alignas(64) members, but Relacy allocates the test_suite with
// plain malloc (16-byte alignment), so a ring member would be misaligned: the
// rings live in over-sized raw buffers and are constructed at a 64-aligned
// address with std::construct_at.
// GORO_RELACY_BROKEN is the generic spelling tests/relacy/CMakeLists.txt
// passes to every model's "_broken" target; GORO_RUNQ_BROKEN is this model's.
#if (defined(GORO_RUNQ_BROKEN) && GORO_RUNQ_BROKEN) || (defined(GORO_RELACY_BROKEN) && GORO_RELACY_BROKEN)
#define GORO_RUNQ_MODEL_BROKEN 1
// The one deliberate bug: put()'s tail store, which publishes the slot and
// the G it points to, is relaxed instead of release (runq.hpp's fault
// injection point). A thief's acquire load of tail then does not synchronise
// with the owner, and the model must report the G's payload as a data race or
// a null slot.
#define GORO_DETAIL_RUNQ_PUBLISH_ORDER std::memory_order_relaxed
#else
#define GORO_RUNQ_MODEL_BROKEN 0
#endif

#include <goro/runq.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <ostream>

#include "rl_atomic.hpp"  // last: includes <relacy/relacy.hpp>, which #defines new, delete, $, ...

namespace {

constexpr std::uint32_t kN = 4;

// A goroutine: the payload is written by its creator before it is queued and
// read by whoever runs it; runs counts how often it ran.
struct G {
  rl::var<int> payload;
  rl::var<int> runs;
};

using ring_t = goro::detail::runq_ring<goro_rl::atomic, G, kN>;
constexpr bool kBroken = GORO_RUNQ_MODEL_BROKEN != 0;

// Storage for an over-aligned object inside a malloc'ed test_suite.
template <class T>
class inplace {
 public:
  void construct() {
    void* p = raw_;
    std::size_t space = sizeof raw_;
    p = std::align(alignof(T), sizeof(T), p, space);
    obj_ = std::construct_at(static_cast<T*>(p));
  }
  void destroy() {
    std::destroy_at(obj_);
    obj_ = nullptr;
  }
  T* operator->() const { return obj_; }
  T& operator*() const { return *obj_; }

 private:
  unsigned char raw_[sizeof(T) + alignof(T)];
  T* obj_ = nullptr;
};

constexpr int payload_of(int i) { return 1000 + 7 * i; }

// Path coverage, printed after each model so a reader can see the interesting
// branches were reached. Observation only: it never steers the model.
struct coverage_t {
  unsigned long long slow_moved = 0;    // put_slow moved half the ring to global
  unsigned long long slow_retry = 0;    // put_slow returned 0 (a consumer raced), put retried
  unsigned long long owner_next = 0;    // the owner's get() took runnext
  unsigned long long grabbed[3] = {};   // thief grab/steal batch sizes 0, 1, 2
  unsigned long long before_next = 0;   // steal()'s before_runnext hook ran
};
coverage_t cov;

// Batch arrays get kN canary entries past the size the API promises to use
// (grab: N/2, put_slow: N/2 + 1); writing one is a batch overflow.
char canary_byte;
G* const kCanary = reinterpret_cast<G*>(&canary_byte);  // never dereferenced

template <std::size_t Used, std::size_t Total>
void set_canaries(G* (&batch)[Total]) {
  static_assert(Total == Used + kN);
  for (std::size_t k = Used; k < Total; ++k) batch[k] = kCanary;
}

template <std::size_t Used, std::size_t Total>
bool canaries_intact(G* const (&batch)[Total]) {
  for (std::size_t k = Used; k < Total; ++k)
    if (batch[k] != kCanary) return false;
  return true;
}

// Shared fixture. Thread 0 owns q; thread i > 0 owns own[i] (its P's queue).
template <class Derived, rl::thread_id_t Threads, int NumG>
struct runq_model : rl::test_suite<Derived, Threads> {
  G gs[NumG];
  inplace<ring_t> q;
  inplace<ring_t> own[Threads];
  G* global[NumG];  // the "global run queue", touched by thread 0 only
  int nglobal = 0;

  void before() {
    q.construct();
    for (auto& o : own) o.construct();
    for (auto& g : gs) g.runs($) = 0;
    nglobal = 0;
  }

  void after() {
    for (int i = 0; i < NumG; ++i) RL_ASSERT(gs[i].runs($) == 1);  // exactly once
    RL_ASSERT(q->empty());
    for (auto& o : own) RL_ASSERT(o->empty());
    for (auto& o : own) o.destroy();
    q.destroy();
  }

  // Owner: create G i (write its payload) and queue it; on overflow take Go's
  // runqputslow path (half the ring plus the G that did not fit to global).
  void create(int i, bool next) {
    G* g = &gs[i];
    g->payload($) = payload_of(i);
    G* over = q->put(g, next);
    while (over != nullptr) {
      G* batch[kN / 2 + 1 + kN];
      set_canaries<kN / 2 + 1>(batch);
      std::uint32_t n = q->put_slow(batch);
      RL_ASSERT(canaries_intact<kN / 2 + 1>(batch));
      if (n == 0) {  // a consumer freed space since put saw the ring full: retry
        ++cov.slow_retry;
        over = q->put(over, false);
        continue;
      }
      RL_ASSERT(n == kN / 2);
      ++cov.slow_moved;
      for (std::uint32_t k = 0; k < n; ++k) global[nglobal++] = batch[k];
      global[nglobal++] = over;
      over = nullptr;
    }
  }

  void run(G* g) {
    RL_ASSERT(g != nullptr);
    std::ptrdiff_t i = g - gs;
    RL_ASSERT(i >= 0 && i < NumG);
    RL_ASSERT(g->payload($) == payload_of(static_cast<int>(i)));  // published with g
    RL_ASSERT(g->runs($) == 0);                                    // not run before
    g->runs($) = 1;
  }

  // Owner: run one G from q if there is one.
  void get_one() {
    bool inherit = false;
    if (G* g = q->get(&inherit)) {
      cov.owner_next += inherit;
      run(g);
    }
  }

  // Owner: run everything left in q, then the global queue.
  void drain_owner() {
    for (;;) {
      bool inherit = false;
      G* g = q->get(&inherit);
      if (g == nullptr) break;
      cov.owner_next += inherit;
      run(g);
    }
    for (int k = 0; k < nglobal; ++k) run(global[k]);
  }

  // Thief `me`: Go's runqsteal into own[me], run the returned G, then drain
  // own[me]. Uses the overload with the before_runnext hook (where the runtime
  // sleeps 3 us); grab_once uses the hook-less one.
  void steal_once(unsigned me) {
    std::uint32_t stolen = 0;
    G* g = own[me]->steal(*q, true, [] { ++cov.before_next; }, &stolen);
    RL_ASSERT(stolen <= kN / 2);
    ++cov.grabbed[stolen];
    RL_ASSERT((stolen == 0) == (g == nullptr));
    if (g != nullptr) run(g);
    bool inherit = true;
    while (G* h = own[me]->get(&inherit)) {
      RL_ASSERT(!inherit);  // steal never fills runnext
      run(h);
    }
  }

  // Thief: runqgrab directly from victim (default: q) and run the batch.
  void grab_once(ring_t* victim = nullptr) {
    G* batch[kN / 2 + kN];
    set_canaries<kN / 2>(batch);
    std::uint32_t n = (victim != nullptr ? victim : &*q)->grab(batch, true);
    RL_ASSERT(canaries_intact<kN / 2>(batch));  // grab writes at most N/2 entries
    RL_ASSERT(n <= kN / 2);
    ++cov.grabbed[n];
    for (std::uint32_t k = 0; k < n; ++k) run(batch[k]);
  }
};

// (a) owner: put, put(next), put, get, put(next), put, get, put(next), drain;
//     thief: steal twice.
struct model_a : runq_model<model_a, 2, 6> {
  void thread(unsigned me) {
    if (me == 0) {
      create(0, false);
      create(1, true);
      create(2, false);
      get_one();
      create(3, true);
      create(4, false);
      get_one();
      create(5, true);
      drain_owner();
    } else {
      steal_once(me);
      steal_once(me);
    }
  }
};

// (b) owner overflows the 4-slot ring twice (without a thief: 5 and then 8 do
//     not fit) while a thief grabs twice.
struct model_b : runq_model<model_b, 2, 9> {
  void thread(unsigned me) {
    if (me == 0) {
      for (int i = 0; i < 4; ++i) create(i, false);
      create(4, true);
      create(5, false);
      create(6, false);
      create(7, true);
      create(8, false);
      get_one();
      drain_owner();
    } else {
      grab_once();
      grab_once();
    }
  }
};

// (c) owner and two thieves: thief 1 steals from q into its own queue own[1]
//     (so steal()'s tail store publishes the Gs again) and runs them; thief 2
//     grabs from q and then from own[1], so a G can travel owner -> thief 1 ->
//     thief 2 and its payload must still be visible.
struct model_c : runq_model<model_c, 3, 7> {
  void thread(unsigned me) {
    if (me == 0) {
      create(0, false);
      create(1, true);
      create(2, false);
      create(3, false);
      create(4, true);
      get_one();
      create(5, false);
      create(6, false);
      drain_owner();
    } else if (me == 1) {
      steal_once(me);
      steal_once(me);
    } else {
      grab_once();
      grab_once(&*own[1]);
    }
  }
};

// (d) small enough for an exhaustive search (about 410k executions; one more
//     G in the ring makes it ~10^12): owner put, put(next), drain; thief: one
//     grab that may take the ring's G or, if the ring looks empty, runnext.
struct model_d : runq_model<model_d, 2, 2> {
  void thread(unsigned me) {
    if (me == 0) {
      create(0, false);
      create(1, true);
      drain_owner();
    } else {
      grab_once();
    }
  }
};

template <class M>
bool check(const char* name, rl::scheduler_type_e search, rl::iteration_t iterations, unsigned context_bound = 1) {
  return goro_rl::run_model<M>("runq", name, search, iterations, context_bound, [] { cov = coverage_t{}; }, [] {
    std::printf("  coverage: put_slow moved %llu, put_slow retried %llu, owner took runnext %llu, "
                "thief batches of 0/1/2: %llu/%llu/%llu, before_runnext hook %llu\n",
                cov.slow_moved, cov.slow_retry, cov.owner_next, cov.grabbed[0], cov.grabbed[1], cov.grabbed[2],
                cov.before_next);
  });
}

}  // namespace

int main() {
  std::printf("runq_ring Relacy models, N = %u%s\n", kN,
              kBroken ? ", BROKEN variant (relaxed tail store in put): failures are expected" : "");
  bool ok = true;
  // Random search samples the whole space; the context-bound search enumerates
  // every execution with at most `bound` preemptions (cheap, exhaustive within
  // the bound); the full search enumerates everything but only fits model d.
  ok &= check<model_a>("a (owner + stealing thief)", rl::sched_random, 200000);
  ok &= check<model_a>("a (owner + stealing thief)", rl::sched_bound, 0, 3);
  ok &= check<model_b>("b (overflow to global + grabbing thief)", rl::sched_random, 200000);
  ok &= check<model_b>("b (overflow to global + grabbing thief)", rl::sched_bound, 0, 2);
  ok &= check<model_c>("c (owner + two thieves)", rl::sched_random, 200000);
  ok &= check<model_c>("c (owner + two thieves)", rl::sched_bound, 0, 1);
  ok &= check<model_d>("d (small, exhaustive)", rl::sched_full, 0);
  std::printf("runq models: %s\n", ok ? "all passed" : "FAILED");
  return ok ? 0 : 1;
}
