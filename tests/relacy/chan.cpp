// tests/relacy/chan.cpp — Relacy models of the channel's non-blocking fast
// paths: goro::detail::chanrecv_fast and chansend_fast (include/goro/chan.hpp,
// Go's chanrecv/chansend fast paths over empty()/full()), which read qcount,
// closed and a wait queue's head without the channel's lock.
//
// What is the real code and what is modelled: chan_state<Atomic> is a template
// over its atomic type, so the models instantiate the production chan_state,
// basic_waitq, chanrecv_fast and chansend_fast with goro_rl::atomic (Relacy's
// memory model), together with the lock-side writers the fast paths pair with
// (qcount_store, mark_closed, count, is_closed). The locked part of chansend /
// chanrecv (buffer slots, sendx/recvx) is a small model of the runtime's: an
// rl::mutex for hchan.lock and rl::var slots, so that a value read without
// happens-before from its send is a Relacy DATA RACE. It follows chanrecv's
// and chansend's locked checks in the same order (closed and empty -> closed;
// a value -> take it; else would block).
//
// What is checked (the fast paths must be linearizable: each answer true at
// some moment during the call):
//   a: "a value sent before a close is never reported as closed". Thread 0
//      try_sends 2 values into a capacity-2 channel (both must succeed) and
//      closes it; thread 1 try_recvs until it sees "closed" (bounded) and must
//      have received both values, in order, by then. This is what
//      chanrecv_fast's re-check of emptiness after seeing the close, and its
//      acquire load of closed, are for (with that load relaxed, this model
//      fails within a few hundred random iterations).
//   b: "a closed, drained channel never answers would_block" (Go:
//      TestNonblockRecvRace). A capacity-1 channel starts full; thread 0
//      closes it; thread 1 drains it under the lock, but only once it is
//      closed; thread 2 does one try_recv. The channel goes open+full ->
//      closed+full -> closed+empty and is never open and empty, so
//      would_block is always wrong. This is what the order of the reads
//      (emptiness first, then closed) and the release stores of qcount are for.
//   c: the unbuffered fast paths (wait-queue heads through basic_waitq):
//      a sender's sudog is on sendq when the threads start (a parked
//      sender), thread 0 closes the channel, which dequeues it (closechan),
//      thread 1 does a try_recv and a try_send. The sender is parked until the
//      close and the channel never again has a sender, so try_recv may answer
//      "value" (taking the parked sender's value), "closed", or would_block only
//      if it ran before the close; try_send must never report a value sent.
//   Each model runs with the random scheduler and a context bound; b also runs
//   exhaustively (sched_full).
//
// Broken variants, which must fail (the program exits non-zero):
//   -DGORO_RELACY_BROKEN=1 (or -DGORO_CHAN_BROKEN=1): chan.hpp's fault
//     injection point GORO_DETAIL_CHAN_RECV_FAST_CLOSED_FIRST makes
//     chanrecv_fast read closed before emptiness, the reordering Go's chanrecv
//     comment warns about: model b sees "open" before the close and "empty"
//     after the drain and answers would_block (assertion failure).
//   -DGORO_CHAN_BROKEN_PUBLISH=1: GORO_DETAIL_CHAN_QCOUNT_ORDER makes
//     qcount_store relaxed (as goro had it before this model): in model b the
//     acquire load of qcount that sees the drain no longer synchronises with
//     it, so the following load of closed may still read "open": would_block
//     again. (On x86 both orders compile to the same plain store; the C++
//     memory model, and weaker hardware, need the release.)
//
// Limits: Relacy runs each thread in program order and only lets loads return
// stale values (no load buffering). chansend_fast's answer can only be
// would_block or "take the lock", and a wrong would_block is not observable by
// its callers beyond a spurious try_send failure, which only model c checks
// (after the close, try_send must throw or report would_block only if it ran
// before the close).
//
// Build and run (exit 0 = every model passed):
//   g++ -std=c++20 -O1 -g -I include -I tests/relacy tests/relacy/chan.cpp -o ch && ./ch
#if (defined(GORO_CHAN_BROKEN) && GORO_CHAN_BROKEN) || (defined(GORO_RELACY_BROKEN) && GORO_RELACY_BROKEN)
#define GORO_CHAN_MODEL_BROKEN 1
// The deliberate bug: chanrecv_fast reads closed before emptiness.
#define GORO_DETAIL_CHAN_RECV_FAST_CLOSED_FIRST 1
#elif defined(GORO_CHAN_BROKEN_PUBLISH) && GORO_CHAN_BROKEN_PUBLISH
#define GORO_CHAN_MODEL_BROKEN 2
// The deliberate bug: qcount is stored relaxed under the lock.
#define GORO_DETAIL_CHAN_QCOUNT_ORDER std::memory_order_relaxed
#else
#define GORO_CHAN_MODEL_BROKEN 0
#endif

#include <goro/goro.hpp>  // the whole runtime: a part alone is not complete (goro/goro.hpp)

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ostream>

#include "rl_atomic.hpp"  // last: includes <relacy/relacy.hpp>, which #defines new, delete, $, ...

namespace {

using goro::detail::fast_outcome;
using goro::detail::sudog;

// Path coverage, summed over one rl::simulate run (observation only).
struct coverage_t {
  unsigned long long recv_fast_would_block = 0;
  unsigned long long recv_fast_closed = 0;
  unsigned long long recv_value = 0;
  unsigned long long recv_locked_closed = 0;
  unsigned long long recv_locked_would_block = 0;
  unsigned long long send_fast_would_block = 0;
};
coverage_t cov;

enum class recv_result { would_block, value, closed };

// model_chan: chan_state (the production code) plus a model of hchan's locked
// part for capacity Cap (0: unbuffered; the parked sender's value is `parked`).
template <std::size_t Cap>
struct model_chan : goro::detail::chan_state<goro_rl::atomic> {
  static constexpr std::size_t kSlots = Cap == 0 ? 1 : Cap;
  rl::mutex lock;
  rl::var<int> slot[kSlots];
  std::size_t sendx = 0;  // lock
  std::size_t recvx = 0;  // lock

  model_chan() { dataqsiz = Cap; }

  // try_send: chansend(c, v, block=false) into the buffer (the models never
  // park receivers). Returns false when it would block or the channel is
  // closed (then *closed_out: the runtime throws closed_channel).
  bool try_send(int v, bool* closed_out) {
    *closed_out = false;
    if (goro::detail::chansend_fast(this) == fast_outcome::would_block) {
      ++cov.send_fast_would_block;
      return false;
    }
    lock.lock($);
    if (is_closed()) {
      lock.unlock($);
      *closed_out = true;
      return false;
    }
    if (count() < Cap) {
      slot[sendx]($) = v;
      if (++sendx == Cap) sendx = 0;
      qcount_store(count() + 1);
      lock.unlock($);
      return true;
    }
    lock.unlock($);
    return false;
  }

  // take: chanrecv's locked part. Requires lock.
  recv_result take_locked(int* out) {
    if (is_closed() && count() == 0) {
      ++cov.recv_locked_closed;
      return recv_result::closed;
    }
    if (sudog* sg = sendq.dequeue()) {  // unbuffered: a parked sender's value
      *out = (*static_cast<rl::var<int>*>(sg->elem))($);
      sg->success = true;
      return recv_result::value;
    }
    if (count() > 0) {
      *out = slot[recvx]($);
      if (++recvx == Cap) recvx = 0;
      qcount_store(count() - 1);
      return recv_result::value;
    }
    ++cov.recv_locked_would_block;
    return recv_result::would_block;
  }

  // try_recv: chanrecv(c, dst, block=false).
  recv_result try_recv(int* out) {
    switch (goro::detail::chanrecv_fast(this)) {
      case fast_outcome::would_block: ++cov.recv_fast_would_block; return recv_result::would_block;
      case fast_outcome::closed: ++cov.recv_fast_closed; return recv_result::closed;
      case fast_outcome::take_lock: break;
    }
    lock.lock($);
    recv_result r = take_locked(out);
    lock.unlock($);
    if (r == recv_result::value) ++cov.recv_value;
    return r;
  }

  // close: closechan (without waking: the models' parked senders are woken by
  // the flag the dequeue leaves, success == false).
  void close() {
    lock.lock($);
    RL_ASSERT(!is_closed());
    mark_closed();
    while (sudog* sg = sendq.dequeue()) sg->success = false;
    lock.unlock($);
  }
};

// (a) a value sent before a close is never reported as closed.
struct model_a : rl::test_suite<model_a, 2> {
  model_chan<2> c;

  void thread(unsigned me) {
    if (me == 0) {
      bool closed = false;
      RL_ASSERT(c.try_send(10, &closed));
      RL_ASSERT(c.try_send(11, &closed));
      c.close();
    } else {
      int expect = 10;
      for (int i = 0; i < 6; ++i) {
        int v = -1;
        recv_result r = c.try_recv(&v);
        if (r == recv_result::value) {
          RL_ASSERT(v == expect);
          ++expect;
        } else if (r == recv_result::closed) {
          RL_ASSERT(expect == 12);  // closed only once both values were received
          return;
        }
      }
    }
  }
};

// (b) a closed, drained channel never answers would_block.
struct model_b : rl::test_suite<model_b, 3> {
  model_chan<1> c;

  void before() {
    c.slot[0]($) = 7;
    c.sendx = 0;
    c.qcount_store(1);
  }

  void thread(unsigned me) {
    if (me == 0) {
      c.close();
    } else if (me == 1) {
      c.lock.lock($);
      if (c.is_closed()) {
        int v = -1;
        if (c.take_locked(&v) == recv_result::value) RL_ASSERT(v == 7);
      }
      c.lock.unlock($);
    } else {
      int v = -1;
      recv_result r = c.try_recv(&v);
      RL_ASSERT(r != recv_result::would_block);  // the channel is never open and empty
      if (r == recv_result::value) RL_ASSERT(v == 7);
    }
  }
};

// (c) unbuffered: a parked sender, a close that dequeues it, try_recv/try_send.
struct model_c : rl::test_suite<model_c, 2> {
  model_chan<0> c;
  rl::var<int> sent;  // the parked sender's value (its stack)
  sudog sg;
  goro_rl::atomic<int> closed_done{0};  // set by thread 1 after close() returns

  void before() {
    sent($) = 5;
    sg = sudog{};
    sg.elem = &sent;
    // The sender is already parked when the threads start (its enqueue is
    // published by Relacy's fence after before()).
    c.lock.lock($);
    c.sendq.enqueue(&sg);
    c.lock.unlock($);
  }

  void thread(unsigned me) {
    // The parked sender itself does nothing until it is woken (by a receive
    // or the close); its stack (sent) stays valid throughout the model.
    if (me == 0) {
      c.close();
      closed_done.store(1, std::memory_order::release);
    } else {
      bool after_close = closed_done.load(std::memory_order::acquire) != 0;
      int v = -1;
      recv_result r = c.try_recv(&v);
      if (r == recv_result::value) RL_ASSERT(v == 5);
      if (after_close) RL_ASSERT(r == recv_result::closed);  // the close happened before the call
      bool closed = false;
      bool ok = c.try_send(9, &closed);
      RL_ASSERT(!ok);  // no receiver ever parks: never sent
    }
  }

  void after() { RL_ASSERT(c.sendq.empty()); }
};

template <class M>
bool check(const char* name, rl::scheduler_type_e search, rl::iteration_t iterations, unsigned context_bound = 1) {
  return goro_rl::run_model<M>("chan", name, search, iterations, context_bound, [] { cov = coverage_t{}; }, [] {
    std::printf("  recv fast: would_block %llu, closed %llu; locked: value %llu, closed %llu, would_block %llu; "
                "send fast would_block %llu\n",
                cov.recv_fast_would_block, cov.recv_fast_closed, cov.recv_value,
                cov.recv_locked_closed, cov.recv_locked_would_block, cov.send_fast_would_block);
  });
}

}  // namespace

int main() {
  std::printf("chan fast-path Relacy models%s\n",
              GORO_CHAN_MODEL_BROKEN == 1   ? ", BROKEN variant (closed read before emptiness): failures are expected"
              : GORO_CHAN_MODEL_BROKEN == 2 ? ", BROKEN variant (relaxed qcount stores): failures are expected"
                                            : "");
  bool ok = true;
  ok &= check<model_a>("a (value before close)", rl::sched_random, 200000);
  ok &= check<model_a>("a (value before close)", rl::sched_bound, 0, 3);
  ok &= check<model_b>("b (closed and drained)", rl::sched_random, 200000);
  ok &= check<model_b>("b (closed and drained)", rl::sched_bound, 0, 2);
  ok &= check<model_b>("b (closed and drained)", rl::sched_full, 0);
  ok &= check<model_c>("c (unbuffered, parked sender, close)", rl::sched_random, 200000);
  ok &= check<model_c>("c (unbuffered, parked sender, close)", rl::sched_bound, 0, 2);
  std::printf("chan models: %s\n", ok ? "all passed" : "FAILED");
  return ok ? 0 : 1;
}
