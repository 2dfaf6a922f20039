// tests/relacy/context.cpp — Relacy models of the lock-free handshakes in
// goro's cancellation code: the cancel walk against a child's last release
// (include/goro/context.hpp, ctx_node::detached), errgroup's first-error
// claim (include/goro/errgroup.hpp, errgroup_state::fail / errgroup::wait)
// and ctx_sleep's wake-up claim (context.hpp, ctx_sleep_rec::claim).
//
// What is the real code and what is modelled: context.hpp and errgroup.hpp use
// rt_mutex and std::atomic directly (they are not templates over their atomic
// type, as runq_ring and the sync types are), so these models re-state each
// protocol here, step for step and in the same order, with std::atomic ->
// goro_rl::atomic (rl_atomic.hpp: rl::atomic with std::atomic's API),
// rt_mutex -> rl::mutex, and every plain field an rl::var, so that an access
// not ordered by happens-before against another thread's write is a Relacy
// DATA RACE. Each step's comment names the function it mirrors (if those
// functions change, change the models with them). The constants (ctx_live,
// ctx_canceled, ctx_timed_out, errgroup_state::none/claiming/published,
// ctx_sleep_rec::pending/unwound) are the production ones.
//
// A: the cancel walk vs a child's last release (context.hpp, "Cancelling" and
//    ctx_node::detached). A node P with a child C linked in its list; three
//    threads:
//      0  A1: the cancel function of P (ctx_cancel: the walk
//         ctx_cancel_tree with a collect list, ctx_unlink_from_parent,
//         ctx_finish, which drops the counts the walk took), then drops its
//         handle of P (ctx_release).
//         A2: P's deadline timer firing instead (ctx_deadline_fired, under
//         the timer heap's lock, collecting nothing), with nobody holding a
//         count for it.
//      1  C's last handle dropped (ctx_release: refs 1 -> 0, unless the walk's
//         try_retain got in first; then the walk's ctx_finish frees C).
//      2  derives a child D of P (ctx_derive: linked, or born cancelled if
//         P already is), drops D (ctx_release), then drops its own handle
//         of P (ctx_release; in A2 that is P's last handle: timer_del waits
//         for a firing in progress).
//    "Freeing" a node (ctx_release's `delete n`) writes every rl::var of it
//    (freed = 1, err and the links poisoned), and every access to a node
//    first reads its `freed` (use()): so any access by the walk (or anyone)
//    to a node that is not ordered before its free is a DATA RACE. This is
//    what the walk's order is for: it stores C.detached (release) only after
//    it has unlocked C.mu, while P.mu is still held, so C's release either
//    waits for P.mu (ctx_unlink_from_parent) or sees detached (acquire) and
//    then only waits for C.mu, which the walk no longer needs. Also checked:
//    each node freed exactly once and, at the end, every node freed (no
//    count leaked, no count dropped twice); a node is freed with no child
//    in its list and out of its parent's list; a D derived from a cancelled
//    P is born cancelled with P's code; in A1, P is freed cancelled; no
//    DEADLOCK (the lock order: a parent's mu before a child's, the heap
//    lock before both).
//      a1: explicit cancel   random 500k + context bound 3
//      a2: timer firing      random 500k + context bound 3
//
// B: errgroup's first error (errgroup.hpp, "The first error";
//    errgroup_state::fail; errgroup::wait). Threads 0 and
//    1 are failing goroutines: the claim CAS none -> claiming (acq_rel), the
//    winner alone writes err (an rl::var) and publishes (first = published,
//    release); then each ends: leave() (active, release) and wg's done()
//    (modelled as a fetch_sub, release; wait_group.cpp checks the real one).
//    Thread 2 is a wait(): it reads first (acquire) and only if published reads
//    err. The orders are errgroup.hpp's.
//      b1: wait() after wg.wait() saw the count at 0 (acquire): first must
//          be published and err the claimant's value. This is the main use,
//          but wg's done -> wait edge orders err by itself there.
//      b2: a wait() whose wg.wait() had already returned when these two
//          goroutines were started (a go() after wg.wait() returned, as Go
//          allows once that Wait has returned), so it reads first while
//          they run: then published's release -> acquire is the only edge
//          to err. (This is what the broken variant needs: in b1 a relaxed
//          publish is still ordered by the wait_group.)
//      b1: random 200k + context bound 4; b2: random 200k + sched_full
//      (exhaustive). In both, the second error is dropped, never written (a
//      second writer would race on err) and exactly one goroutine claims.
//
// C: ctx_sleep's wake-up claim (context.hpp, ctx_sleep_rec::claim,
//    ctx_sleep). Four threads: 0 the sleeper (park's unlock step:
//    timer_add, ctx_register, or, already cancelled, claim(err) itself and
//    not park; then, parked, wait to be readied; then leaving park, the
//    cleanup (timer_del, ctx_unregister) and outcome, acquire); 1 the timer's
//    firing (under the heap's lock: claim(ctx_live)); 2 the context's cancel
//    (under the node's mu: err, then the waiter's fn: claim(ctx_canceled));
//    3 the shutdown unwinder (park.hpp's try_cancel_park: claims the parked
//    G's parkstate, heavy_fence, and only if the G's status is still waiting
//    the park's cancel fn: claim(unwound)). The G's side of that handshake is
//    modelled too (park.hpp "Claiming a parked G": status running, then
//    light_fence, then wait while parkstate is claimed), with the
//    light_fence / heavy_fence pair as two seq_cst fences: without the
//    unwinder's fence the model reports a DATA RACE on the record (the
//    unwinder's claim after the G returned). Every waker writes a value
//    before its claim (the canceller: before cancelling, as a program's
//    writes before cancel() are ordered before what observes it). Checked:
//    exactly one claim wins; only the winner readies (an rl::var counter: two
//    readies race or count 2), and the sleeper is readied exactly when it
//    parked (never when it called the park off by claiming itself); the
//    outcome is the winner's and the winner's value is visible to the
//    sleeper; and no waker touches the record (the sleeper's stack frame,
//    poisoned when ctx_sleep returns) after it is gone: a waker claims under
//    the heap's lock (timer_del waits), under the node's mu
//    (ctx_unregister waits), or while holding the parked G's parkstate (the
//    G waits while it is claimed).
//      c: random 500k + context bound 3
//
// Broken variant (-DGORO_RELACY_BROKEN=1) breaks all three models at once:
//   A: the walk stores C.detached = true when it takes C off P's list
//      (before it locks and marks C). C's release then skips P.mu, takes and
//      drops C.mu before the walk locks it, and frees C while the walk is
//      still to lock it and write C.err: a DATA RACE on C's fields, reported
//      at the walk's first access to C after it locks C.mu.
//   B: the claimant publishes with a relaxed store: in b2 the wait() that
//      sees published reads err without happens-before: a DATA RACE on err.
//   C: claim is a load and a store instead of one CAS: two wakers can both
//      win and both ready the sleeper: a DATA RACE on the ready counter, or
//      the count check fails.
// The broken build exits non-zero only if every one of A, B and C failed, as
// each must: if one of them passes, it exits 0, which WILL_FAIL reports as
// a failure of relacy.context_broken. (The normal build exits 0 only if all
// pass.)
//
// Limits: the models have one child level (C, D under P): a deeper walk
// holds more locks of a path but takes the same step per node. Not modelled:
// waiters, done channels, stop relays and std::stop_source (each is a field
// under the node's mu, stood for by `stop`), timers of C and D (their
// deadline is P's: ctx_derive arms none), a parent of P, allocation failure.
// Of the park/ready machinery only what the claim relies on is modelled:
// ready is a status store and a release store (the run queue) the sleeper
// waits for with acquire; the park op's exiting check, try_cancel_park's
// other checks and the M-side slot reuse are left out. Relacy runs each
// thread in program order and can return stale loads, but cannot produce load
// buffering.
//
// Build and run (exit 0 = every model passed):
//   g++ -std=c++20 -O1 -g -I include -I tests/relacy tests/relacy/context.cpp -o ctx && ./ctx
#if defined(GORO_RELACY_BROKEN) && GORO_RELACY_BROKEN
#define GORO_CTX_MODEL_BROKEN 1
#else
#define GORO_CTX_MODEL_BROKEN 0
#endif

#include <goro/goro.hpp>  // the whole runtime: a part alone is not complete (goro/goro.hpp)

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>

#include "rl_atomic.hpp"  // last: includes <relacy/relacy.hpp>, which #defines new, delete, $, ...

namespace {

constexpr int kLive = goro::detail::ctx_live;
constexpr int kCanceled = goro::detail::ctx_canceled;
constexpr int kTimedOut = goro::detail::ctx_timed_out;
constexpr int kPoison = -0x5a5a;  // what a freed node's fields hold

// Path coverage, summed over one rl::simulate run (observation only: it never
// steers a model).
struct coverage_t {
  // A
  unsigned long long release_saw_detached = 0;   // ctx_unlink_from_parent: detached, parent's lock skipped
  unsigned long long release_unlinked = 0;       // ... took the parent's lock, child still listed: unlinked it
  unsigned long long release_after_walk = 0;     // ... took the parent's lock, the walk had unlinked it
  unsigned long long walk_marked_child = 0;      // the walk reached and marked C or D
  unsigned long long retain_ok = 0;              // the walk's try_retain of a child succeeded
  unsigned long long retain_failed = 0;          // ... found its count at 0 (its release under way)
  unsigned long long child_freed_by_walker = 0;  // C or D freed by thread 0 (ctx_finish's release)
  unsigned long long d_born_cancelled = 0;
  unsigned long long d_linked = 0;
  unsigned long long firing_ran = 0;             // A2: the firing found the timer in the heap
  unsigned long long firing_saw_released = 0;    // A2: ... and P's count at 0 (returned at once)
  // B
  unsigned long long claims_lost = 0;
  unsigned long long wait_saw_published = 0;
  unsigned long long wait_saw_none = 0;
  // C
  unsigned long long won_by[3] = {};  // timer, canceller, unwinder (the sleeper's own claim counts as canceller)
  unsigned long long self_claimed = 0;  // the sleeper called the park off (already cancelled)
  unsigned long long parked = 0;
  unsigned long long unwinder_claimed_park = 0;
  unsigned long long unwinder_saw_waiting = 0;
};
coverage_t cov;

// ===========================================================================
// A: the cancel walk vs a child's release.

// ctx_node (context.hpp). err is a std::atomic<int> there; here an rl::var,
// because every access to it in this model is under the node's mu, by its only
// writer, or the free, and a free is a plain write of all of the node's bytes
// (so a walk's write to a freed node's err is what must be a DATA RACE).
struct node {
  goro_rl::atomic<std::int64_t> refs;
  rl::var<int> err;                  
  rl::mutex mu;                      
  node* parent = nullptr;              // const
  bool has_timer = false;              // timer_sched != nullptr: immutable after with_*
  rl::var<node*> sib_prev;             // guarded by parent->mu
  rl::var<node*> sib_next;
  rl::var<bool> in_parent;
  goro_rl::atomic<bool> detached;    
  rl::var<node*> children;             // guarded by mu
  rl::var<bool> stop;                  // (stands for stop, relay, waiters, done), guarded by mu
  rl::var<int> freed;                  // the model's: 1 once "deleted"
  int err_at_free = 0;                 // observation for after()
};

template <bool ByTimer>
struct model_a : rl::test_suite<model_a<ByTimer>, 3> {
  node P, C, D;
  rl::mutex heap;            // P's timer heap lock (A2)
  rl::var<node*> heap_slot;  // the heap's entry for P's timer (the heap's memory, not P's)

  static constexpr unsigned kWalker = 0;

  void init(node& n, node* parent, std::int64_t refs, bool stop) {
    n.refs.store(refs, std::memory_order::relaxed);
    n.err($) = kLive;
    n.parent = parent;
    n.sib_prev($) = nullptr;
    n.sib_next($) = nullptr;
    n.in_parent($) = false;
    n.detached.store(false, std::memory_order::relaxed);
    n.children($) = nullptr;
    n.stop($) = stop;
    n.freed($) = 0;
  }

  void before() {
    // P: A1 held by the canceller (thread 0) and thread 2, A2 by thread 2;
    // plus C's count (a linked child keeps its parent). P and C have a stop
    // source (the walk collects them: ctx_cancel_tree); in A2, P has a
    // timer in the heap.
    init(P, nullptr, ByTimer ? 2 : 3, !ByTimer);
    P.has_timer = ByTimer;
    heap_slot($) = ByTimer ? &P : nullptr;
    init(C, &P, 1, true);  // thread 1's handle
    link_child_locked(&P, &C);
    init(D, &P, 0, false);  // not allocated yet: thread 2's ctx_derive does it
    D.freed($) = 1;
  }

  // use: an access to n's memory (its atomics or its mutex, which the rl::vars
  // below do not cover): must be ordered before n's free.
  static void use(node* n) { RL_ASSERT(n->freed($) == 0); }

  // ctx_node::link_child_locked. Requires p->mu.
  static void link_child_locked(node* p, node* c) {
    c->sib_prev($) = nullptr;
    node* head = p->children($);
    c->sib_next($) = head;
    if (head != nullptr) head->sib_prev($) = c;
    p->children($) = c;
    c->in_parent($) = true;
  }
  // ctx_node::unlink_child_locked. Requires p->mu.
  static void unlink_child_locked(node* p, node* c) {
    node* prev = c->sib_prev($);
    node* next = c->sib_next($);
    if (prev != nullptr) prev->sib_next($) = next;
    else p->children($) = next;
    if (next != nullptr) next->sib_prev($) = prev;
    c->sib_prev($) = nullptr;
    c->sib_next($) = nullptr;
    c->in_parent($) = false;
  }

  // ctx_node::try_retain.
  static bool try_retain(node* n) {
    std::int64_t r = n->refs.load(std::memory_order::relaxed);
    while (r != 0)
      if (n->refs.compare_exchange_weak(r, r + 1, std::memory_order::relaxed)) return true;
    return false;
  }

  // ctx_cancel_tree. collect == nullptr: a timer's firing.
  void cancel_tree(node* n, int code, node** collect, int* ncollect) {
    node* path[3];  // the locked path, root first (depth <= 2 here)
    int size = 0;
    auto enter = [&](node* x) {
      x->mu.lock($);
      use(x);
      if (x->err($) == kLive) {    // (relaxed load under mu)
        x->err($) = code;          // mark_locked (release store; waiters, done, relay: not modelled)
        if (x != &P) ++cov.walk_marked_child;
        if (collect != nullptr && x->stop($)) {
          if (try_retain(x)) {
            collect[(*ncollect)++] = x;
            if (x != &P) ++cov.retain_ok;
          } else if (x != &P) {
            ++cov.retain_failed;
          }
        }
      }
      path[size++] = x;
    };
    enter(n);
    while (size != 0) {
      node* top = path[size - 1];
      if (node* c = top->children($)) {
        unlink_child_locked(top, c);    
#if GORO_CTX_MODEL_BROKEN
        // The deliberate bug: C is marked detached as soon as it is off P's
        // list, before the walk has locked and marked it.
        use(c);
        c->detached.store(true, std::memory_order::release);
#endif
        enter(c);
      } else {
        top->mu.unlock($);
        --size;           
#if !GORO_CTX_MODEL_BROKEN
        if (size != 0) {  // the parent (path[size - 1]) still locked
          use(top);
          top->detached.store(true, std::memory_order::release);
        }
#endif
      }
    }
  }

  // ctx_unlink_from_parent.
  void unlink_from_parent(node* n) {
    use(n);
    if (n->detached.load(std::memory_order::acquire)) {
      if (n->parent != nullptr) ++cov.release_saw_detached;
      return;
    }
    if (node* p = n->parent) {
      p->mu.lock($);          
      use(p);
      if (n->in_parent($)) {
        unlink_child_locked(p, n);
        n->detached.store(true, std::memory_order::release);
        ++cov.release_unlinked;
      } else {
        ++cov.release_after_walk;  // the walk took it out, and marks it detached itself
      }
      p->mu.unlock($);
    }
  }

  // timer_del (timers.hpp): waits for a firing in progress (it holds the heap
  // lock), then the timer is out of the heap.
  void timer_del(node* n) {
    heap.lock($);
    if (heap_slot($) == n) heap_slot($) = nullptr;
    heap.unlock($);
  }

  // `delete n`: every field written.
  void free_node(node* n, unsigned me) {
    RL_ASSERT(n->freed($) == 0);              // freed once
    RL_ASSERT(n->children($) == nullptr);     // a linked child holds a count: none left
    RL_ASSERT(!n->in_parent($));              // off its parent's list
    n->err_at_free = n->err($);
    if (n != &P && me == kWalker) ++cov.child_freed_by_walker;
    n->freed($) = 1;
    n->err($) = kPoison;
    n->sib_prev($) = nullptr;
    n->sib_next($) = nullptr;
    n->in_parent($) = false;
    n->children($) = nullptr;
    n->stop($) = false;
  }

  // ctx_release.
  void release(node* n, unsigned me) {
    for (;;) {
      if (n == nullptr) return;
      use(n);
      if (n->refs.fetch_sub(1, std::memory_order::acq_rel) != 1) return;
      if (n->has_timer) timer_del(n);
      unlink_from_parent(n);         
      node* p = n->parent;           
      n->mu.lock($);                   // waits for a walk that holds it
      use(n);
      (void)n->stop($);                // fire_waiters_locked, relay exchange
      n->mu.unlock($);
      free_node(n, me);              
      n = p;                         
    }
  }

  // ctx_finish.
  void finish(node** nodes, int k, unsigned me) {
    for (int i = 0; i < k; ++i) {
      node* x = nodes[i];
      if (x->has_timer) timer_del(x);
      x->mu.lock($);                 
      use(x);
      (void)x->stop($);              
      x->mu.unlock($);
    }
    for (int i = 0; i < k; ++i) release(nodes[i], me);
  }

  // ctx_cancel.
  void cancel(node* n, int code, unsigned me) {
    use(n);
    if (n->err($) != kLive) return;
    node* collected[3];
    int k = 0;
    cancel_tree(n, code, collected, &k);
    unlink_from_parent(n);              
    finish(collected, k, me);           
  }

  // The timer heap's firing of P's timer (timers.hpp: under the heap lock),
  // whose f is ctx_deadline_fired.
  void fire_timer() {
    heap.lock($);
    node* n = heap_slot($);
    if (n != nullptr) {
      heap_slot($) = nullptr;
      ++cov.firing_ran;
      use(n);
      if (n->refs.load(std::memory_order::acquire) == 0) {
        ++cov.firing_saw_released;
      } else if (n->err($) == kLive) {
        cancel_tree(n, kTimedOut, nullptr, nullptr);
        unlink_from_parent(n);                      
      }
    }
    heap.unlock($);
  }

  // ctx_derive, parent != nullptr, no deadline of its own.
  void derive(node* parent, node* n) {
    // new ctx_node(parent): thread 2 constructs it.
    n->refs.store(1, std::memory_order::relaxed);
    n->err($) = kLive;
    n->sib_prev($) = nullptr;
    n->sib_next($) = nullptr;
    n->in_parent($) = false;
    n->detached.store(false, std::memory_order::relaxed);
    n->children($) = nullptr;
    n->stop($) = false;
    n->freed($) = 0;
    use(parent);
    parent->refs.fetch_add(1, std::memory_order::relaxed);  // retain
    parent->mu.lock($);                                   
    use(parent);
    int perr = parent->err($);
    if (perr != kLive) {
      n->err($) = perr;                                   
      n->detached.store(true, std::memory_order::relaxed);
      parent->mu.unlock($);
      ++cov.d_born_cancelled;
      RL_ASSERT(n->err($) == (ByTimer ? kTimedOut : kCanceled));
      return;
    }
    link_child_locked(parent, n);
    parent->mu.unlock($);
    ++cov.d_linked;
  }

  void thread(unsigned me) {
    if (me == 0) {
      if (ByTimer) {
        fire_timer();
      } else {
        cancel(&P, kCanceled, me);  // the cancel function
        release(&P, me);            // the cancel_handle's count of P
      }
    } else if (me == 1) {
      release(&C, me);  // C's last handle
    } else {
      derive(&P, &D);   // with_cancel(P)
      release(&D, me);  // the new context's handle (make_cancel_handle's two counts, as one)
      release(&P, me);  // thread 2's handle of P
    }
  }

  void after() {
    RL_ASSERT(P.freed($) == 1);
    RL_ASSERT(C.freed($) == 1);
    RL_ASSERT(D.freed($) == 1);
    if (!ByTimer) RL_ASSERT(P.err_at_free == kCanceled);
  }

  static void print_coverage() {
    std::printf("  release: saw detached %llu, unlinked itself %llu, after the walk %llu; walk marked a child %llu\n",
                cov.release_saw_detached, cov.release_unlinked, cov.release_after_walk, cov.walk_marked_child);
    std::printf("  walk try_retain of a child: ok %llu, failed %llu; a child freed by thread 0 %llu\n",
                cov.retain_ok, cov.retain_failed, cov.child_freed_by_walker);
    std::printf("  D: linked %llu, born cancelled %llu", cov.d_linked, cov.d_born_cancelled);
    if (ByTimer) std::printf("; firing ran %llu (found P released %llu)", cov.firing_ran, cov.firing_saw_released);
    std::printf("\n");
  }
};

// ===========================================================================
// B: errgroup's first error.

using errgroup_state = goro::detail::errgroup_state;

#if GORO_CTX_MODEL_BROKEN
// The deliberate bug: the claimant publishes err with a relaxed store.
constexpr std::memory_order kPublishOrder = std::memory_order::relaxed;
#else
constexpr std::memory_order kPublishOrder = std::memory_order::release;  // errgroup.hpp, errgroup_state::fail
#endif

constexpr int err_of(unsigned i) { return 100 + static_cast<int>(i); }  // the exception goroutine i throws

template <bool Overlap>
struct model_b : rl::test_suite<model_b<Overlap>, 3> {
  goro_rl::atomic<int> first;   // errgroup_state::first
  rl::var<int> err;             // errgroup_state::err: 0 stands for a null exception_ptr
  goro_rl::atomic<int> active;  // errgroup_state::active
  goro_rl::atomic<int> wg;      // wait_group's counter
  rl::var<int> winner;          // the model's: which goroutine claimed (written like err, by the claimant)

  void before() {
    first.store(errgroup_state::none, std::memory_order::relaxed);
    err($) = 0;
    active.store(2, std::memory_order::relaxed);  // go_at's fetch_add, both before the start
    wg.store(2, std::memory_order::relaxed);      // wait_group::go's add(1), twice
    winner($) = -1;
  }

  // errgroup_state::fail.
  void fail(unsigned i) {
    int expect = errgroup_state::none;
    if (!first.compare_exchange_strong(expect, errgroup_state::claiming, std::memory_order::acq_rel)) {
      ++cov.claims_lost;
      return;
    }
    err($) = err_of(i);
    winner($) = static_cast<int>(i);
    first.store(errgroup_state::published, kPublishOrder);
    // cancel() (the group's context): not modelled.
  }

  // errgroup::wait, after wg.wait() and cancel().
  void wait() {
    if (!Overlap)
      while (wg.load(std::memory_order::acquire) != 0) rl::yield(1, $);  // wg.wait(): the count at 0
    if (first.load(std::memory_order::acquire) == errgroup_state::published) {
      ++cov.wait_saw_published;
      int e = err($);  // std::rethrow_exception(st_->err)
      int w = winner($);
      RL_ASSERT(w == 0 || w == 1);
      RL_ASSERT(e == err_of(static_cast<unsigned>(w)));
    } else {
      ++cov.wait_saw_none;
      // After both goroutines' done(), the claimant's publish is visible.
      RL_ASSERT(Overlap);
    }
  }

  void thread(unsigned me) {
    if (me < 2) {
      fail(me);  // errgroup_task::operator(): the body threw
      active.fetch_sub(1, std::memory_order::release);  // leave(), from ~end
      wg.fetch_sub(1, std::memory_order::release);      // wait_group's done(), after the task
    } else {
      wait();
    }
  }

  void after() {
    RL_ASSERT(first.load(std::memory_order::relaxed) == errgroup_state::published);
    int w = winner($);
    RL_ASSERT(w == 0 || w == 1);
    RL_ASSERT(err($) == err_of(static_cast<unsigned>(w)));
  }

  static void print_coverage() {
    std::printf("  claims lost %llu; wait saw published %llu, none yet %llu\n", cov.claims_lost,
                cov.wait_saw_published, cov.wait_saw_none);
  }
};

// ===========================================================================
// C: ctx_sleep's wake-up claim.

using goro::detail::ctx_sleep_rec;
constexpr int kNote[3] = {11, 22, 33};  // what the timer, the canceller, the unwinder wrote before claiming
// parkstate and gstatus values (runtime2.hpp).
constexpr unsigned kParkNone = goro::detail::park_none;
constexpr unsigned kParkArming = goro::detail::park_arming;
constexpr unsigned kParkCancellable = goro::detail::park_cancellable;
constexpr unsigned kParkClaimed = goro::detail::park_claimed;
constexpr unsigned kParkReleased = goro::detail::park_released;
constexpr unsigned kWaiting = static_cast<unsigned>(goro::detail::gstatus::waiting);
constexpr unsigned kRunnable = static_cast<unsigned>(goro::detail::gstatus::runnable);
constexpr unsigned kRunning = static_cast<unsigned>(goro::detail::gstatus::running);

struct model_c : rl::test_suite<model_c, 4> {
  // The context node n (ctx_node): never freed here.
  rl::mutex n_mu;
  goro_rl::atomic<int> n_err;  // ctx_node::err: the sleeper reads it outside mu
  rl::var<bool> n_waiters;     // ctx_node::waiters == &rec.w, guarded by n_mu
  // ctx_sleep_rec: the sleeper's stack frame.
  goro_rl::atomic<int> outcome;
  rl::var<int> rec_alive;  // the model's: 0 once ctx_sleep returned (the frame is gone)
  rl::var<bool> w_linked;  // rec.w.linked, guarded by n_mu
  // The timer heap.
  rl::mutex heap;
  rl::var<bool> heap_has_t;  // rec.t is in the heap
  // The sleeping G.
  // g::parkstate (a uint8_t) and g::status (a gstatus), held as unsigned so
  // that Relacy's history prints them as numbers.
  goro_rl::atomic<unsigned> parkstate;
  goro_rl::atomic<unsigned> status;
  goro_rl::atomic<int> runq;     // the run queue: ready puts the G (release), an M takes it (acquire)
  rl::var<int> readies;          // how many ready(gp) calls
  rl::var<int> note[3];          // what each waker wrote before its claim

  void before() {
    n_err.store(kLive, std::memory_order::relaxed);
    n_waiters($) = false;
    outcome.store(ctx_sleep_rec::pending, std::memory_order::relaxed);
    rec_alive($) = 1;
    w_linked($) = false;
    heap_has_t($) = false;
    parkstate.store(kParkNone, std::memory_order::relaxed);
    status.store(kRunning, std::memory_order::relaxed);
    runq.store(0, std::memory_order::relaxed);
    readies($) = 0;
    for (auto& v : note) v($) = 0;
  }

  // ctx_sleep_rec::claim: a CAS on the sleeper's frame.
  bool claim(int v) {
    RL_ASSERT(rec_alive($) == 1);
#if GORO_CTX_MODEL_BROKEN
    // The deliberate bug: check, then set (two wakers can both see pending).
    if (outcome.load(std::memory_order::acquire) != ctx_sleep_rec::pending) return false;
    outcome.store(v, std::memory_order::release);
    return true;
#else
    int e = ctx_sleep_rec::pending;
    return outcome.compare_exchange_strong(e, v, std::memory_order::acq_rel);
#endif
  }

  // ready(r->gp) (park.hpp).
  void ready() {
    RL_ASSERT(rec_alive($) == 1);  // reads r->gp
    readies($) = readies($) + 1;
    status.store(kRunnable, std::memory_order::relaxed);  // ready (park.hpp)
    runq.store(1, std::memory_order::release);                    // runqput: published by the queue
  }

  // Thread 0: ctx_sleep.
  void sleeper() {
    parkstate.store(kParkArming, std::memory_order::relaxed);  // park (park.hpp)
    // The park op (run_pending, sched.hpp), after the switch:
    status.store(kWaiting, std::memory_order::release);
    // park's unlock step:
    heap.lock($);  // timer_add
    heap_has_t($) = true;
    heap.unlock($);
    bool parks;
    n_mu.lock($);  // ctx_register (context.hpp)
    if (n_err.load(std::memory_order::relaxed) != kLive) {
      n_mu.unlock($);
      parks = !claim(n_err.load(std::memory_order::acquire));
    } else {
      n_waiters($) = true;  // add_waiter_locked
      w_linked($) = true;
      n_mu.unlock($);
      parks = true;
    }
    if (parks) {
      ++cov.parked;
      parkstate.store(kParkCancellable, std::memory_order::release);  // run_pending (sched.hpp)
      // (sched.hpp-703: light_fence, then the exiting check; shutdown's
      // unwinder, thread 3, stands for both ways a parked G is cancelled.)
      // Parked until ready(gp) put it on the run queue and an M took it:
      while (runq.load(std::memory_order::acquire) == 0) rl::yield(1, $);
      status.store(kRunning, std::memory_order::relaxed);  // execute (sched.hpp)
    } else {
      ++cov.self_claimed;
      parkstate.store(kParkNone, std::memory_order::relaxed);  // the park called off (sched.hpp)
      status.store(kRunnable, std::memory_order::relaxed);
      status.store(kRunning, std::memory_order::relaxed);
    }
    // Leaving park (park.hpp): light_fence (with the unwinder's
    // heavy_fence: a pair of seq_cst fences), then wait while an unwinder
    // holds a claim.
    rl::atomic_thread_fence(rl::mo_seq_cst, $);
    for (unsigned ps = parkstate.load(std::memory_order::acquire); ps == kParkArming || ps == kParkClaimed;
         ps = parkstate.load(std::memory_order::acquire))
      rl::yield(1, $);
    parkstate.store(kParkNone, std::memory_order::relaxed);
    // cleanup: neither waker may still fire.
    heap.lock($);  // timer_del: waits for a firing in progress
    heap_has_t($) = false;
    heap.unlock($);
    n_mu.lock($);  // ctx_unregister (context.hpp)
    if (w_linked($)) {
      n_waiters($) = false;
      w_linked($) = false;
    }
    n_mu.unlock($);
    int out = outcome.load(std::memory_order::acquire);
    RL_ASSERT(out != ctx_sleep_rec::pending);
    RL_ASSERT(readies($) == (parks ? 1 : 0));  // readied once if parked, never if the park was called off
    int w = out == kLive ? 0 : out == kCanceled ? 1 : 2;
    RL_ASSERT(out == kLive || out == kCanceled || out == ctx_sleep_rec::unwound);
    if (!parks) RL_ASSERT(out == kCanceled);
    if (w == 2) RL_ASSERT(parks);
    RL_ASSERT(note[w]($) == kNote[w]);  // the winner's write before its claim
    ++cov.won_by[w];
    rec_alive($) = 0;  // ctx_sleep returns: the record is gone
  }

  // Thread 1: the timer heap fires rec.t (its f,, under the heap lock).
  void timer() {
    heap.lock($);
    if (heap_has_t($)) {
      heap_has_t($) = false;
      note[0]($) = kNote[0];
      if (claim(kLive)) ready();
    }
    heap.unlock($);
  }

  // Thread 2: the context's cancel (ctx_cancel_tree's enter, mark_locked,
  // fire_waiters_locked, context.hpp), the waiter's fn.
  void canceller() {
    note[1]($) = kNote[1];  // the program's writes before cancel()
    n_mu.lock($);
    if (n_err.load(std::memory_order::relaxed) == kLive) {
      n_err.store(kCanceled, std::memory_order::release);
      if (n_waiters($)) {  // fire_waiters_locked: remove_waiter_locked, then fn
        n_waiters($) = false;
        w_linked($) = false;
        if (claim(kCanceled)) ready();
      }
    }
    n_mu.unlock($);
  }

  // Thread 3: shutdown's try_cancel_park (park.hpp) with the park's
  // cancel fn. One unwinder: one attempt at the claim.
  void unwinder() {
    unsigned expect = kParkCancellable;
    if (!parkstate.compare_exchange_strong(expect, kParkClaimed, std::memory_order::acq_rel)) return;  // not parked
    ++cov.unwinder_claimed_park;
    rl::atomic_thread_fence(rl::mo_seq_cst, $);  // heavy_fence
    bool cancelled = false;
    if (status.load(std::memory_order::acquire) == kWaiting) {  // then the cancel fn:
      ++cov.unwinder_saw_waiting;
      note[2]($) = kNote[2];
      cancelled = claim(ctx_sleep_rec::unwound);
    }
    if (cancelled) ready();  // unwind = cancelled; ready(gp)
    parkstate.store(cancelled ? kParkReleased : kParkCancellable, std::memory_order::release);
  }

  void thread(unsigned me) {
    switch (me) {
      case 0: sleeper(); break;
      case 1: timer(); break;
      case 2: canceller(); break;
      default: unwinder(); break;
    }
  }

  static void print_coverage() {
    std::printf("  won by timer %llu, canceller %llu (of which the sleeper's own claim %llu), unwinder %llu; "
                "parked %llu; unwinder claimed the park %llu (G still waiting %llu)\n",
                cov.won_by[0], cov.won_by[1], cov.self_claimed, cov.won_by[2], cov.parked, cov.unwinder_claimed_park,
                cov.unwinder_saw_waiting);
  }
};

// ===========================================================================

template <class M>
bool check(const char* name, rl::scheduler_type_e search, rl::iteration_t iterations, unsigned context_bound = 1) {
  return goro_rl::run_model<M>("context", name, search, iterations, context_bound, [] { cov = coverage_t{}; }, [] {
    M::print_coverage();
  });
}

}  // namespace

int main() {
  std::printf("context Relacy models%s\n",
              GORO_CTX_MODEL_BROKEN ? ", BROKEN variant (A: detached stored early; B: relaxed publish; "
                                      "C: claim without CAS): every model must fail"
                                    : "");
  // A model's runs stop at its first failure (the broken build needs one).
  bool a = check<model_a<false>>("a1 (cancel walk vs child release, explicit cancel)", rl::sched_random, 500000);
  a = a && check<model_a<false>>("a1 (cancel walk vs child release, explicit cancel)", rl::sched_bound, 0, 3);
  a = a && check<model_a<true>>("a2 (cancel walk vs child release, timer firing)", rl::sched_random, 500000);
  a = a && check<model_a<true>>("a2 (cancel walk vs child release, timer firing)", rl::sched_bound, 0, 3);
  bool b = check<model_b<true>>("b2 (errgroup first error, overlapping wait)", rl::sched_random, 200000);
  b = b && check<model_b<true>>("b2 (errgroup first error, overlapping wait)", rl::sched_full, 0);
  b = b && check<model_b<false>>("b1 (errgroup first error, wait after done)", rl::sched_random, 200000);
  b = b && check<model_b<false>>("b1 (errgroup first error, wait after done)", rl::sched_bound, 0, 4);
  bool c = check<model_c>("c (ctx_sleep wake-up claim)", rl::sched_random, 500000);
  c = c && check<model_c>("c (ctx_sleep wake-up claim)", rl::sched_bound, 0, 3);
#if GORO_CTX_MODEL_BROKEN
  std::printf("context models, broken build: A %s, B %s, C %s\n", a ? "NOT CAUGHT" : "failed (as it must)",
              b ? "NOT CAUGHT" : "failed (as it must)", c ? "NOT CAUGHT" : "failed (as it must)");
  // Exit non-zero (what WILL_FAIL expects) only if every broken model failed.
  return (!a && !b && !c) ? 1 : 0;
#else
  bool ok = a && b && c;
  std::printf("context models: %s\n", ok ? "all passed" : "FAILED");
  return ok ? 0 : 1;
#endif
}
