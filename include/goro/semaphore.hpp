// goro/semaphore.hpp — goro::semaphore, a weighted semaphore (Go:
// golang.org/x/sync/semaphore.Weighted): acquire(ctx, n) waits, in FIFO
// order, until n of its size units are free or ctx is done.
//
// The rule (x/sync's): an acquire succeeds at once only if n units are free
// and nobody is queued; otherwise it queues at the tail. release wakes
// waiters from the head for as long as the head's request fits; a large
// request at the head holds back the smaller ones behind it, so it is never
// starved. A request larger than the size never queues (it would block
// everyone behind it for ever): it waits for its context only.
//
// State. semaphore_impl::mu_ (a leaf rt_mutex) guards cur_, the queue (head_,
// tail_) and every field of a waiter's record (sem_waiter) except the
// immutable gp, n and sem. size_ is immutable.
//
// Invariant: whenever mu_ is free, the head waiter (if any) does not fit
// (size_ - cur_ < head_->n). A waiter queues only in the hold of mu_ in which
// it saw that it does not fit or that others are queued; every operation that
// frees units or removes the head (release, a cancelled or unwound head) ends
// that hold with grant_locked, which grants heads while they fit.
//
// The waiter record lives on the waiting goroutine's (or plain thread's)
// stack. Its state, under mu_: idle (registered with its context, not yet
// queued), queued, doomed (larger than the size: parked, not queued), then
// granted, cancelled (by its context; the error in code) or unwound (by the
// shutdown unwinder). Whoever moves it out of queued or doomed readies it,
// exactly once: a granter (release, or a cancelled head's grant_locked), the
// context's waiter fn, or the unwinder (its cancel fn returns true, the
// unwinder readies). A grant and a cancellation are ordered by mu_: the first
// wins (a waiter granted before its context's cancellation is seen succeeds).
//
// No lost wake-up: a waiter checks, queues and parks in one hold of mu_; park
// releases mu_ in its unlock step, after the switch away, so whoever changes
// the state (under mu_) finds the waiter parked, ready to be readied. The
// context's cancellation of an idle waiter only marks it cancelled: the
// waiter sees that under mu_ before it would queue.
//
// Lock order: a context node's mu, then mu_ (the context's waiter fn runs
// under the node's mu and takes mu_). So acquire never holds mu_ while it
// registers or unregisters its ctx_waiter; release holds mu_ only. ready()
// runs after mu_ is released (granted waiters are chained through wake_next).
// A waiter leaves acquire only once it is out of the queue and its
// ctx_waiter is unregistered (ctx_unregister waits for a running fn).
//
// acquire and release are scheduling points of deterministic mode and a
// happens-before edge: a release happens before the acquire it satisfies
// returns (sync_acquire / sync_release, park.hpp).
#ifndef GORO_DETAIL_SEMAPHORE_HPP
#define GORO_DETAIL_SEMAPHORE_HPP

#include "config.hpp"
#include "context.hpp"
#include "lock.hpp"
#include "park.hpp"
#include "runtime2.hpp"
#include "tls.hpp"

#include <cstdint>
#include <stdexcept>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

enum class sem_wstate : std::uint8_t { idle, queued, doomed, granted, cancelled, unwound };

class semaphore_impl;

// sem_waiter: one acquire that may wait. On the waiter's stack; see the file
// comment for its states. Fields other than gp, n and sem guarded by sem->mu_.
struct sem_waiter {
  g* gp = nullptr;
  semaphore_impl* sem = nullptr;
  std::int64_t n = 0;
  sem_waiter* prev = nullptr;
  sem_waiter* next = nullptr;
  sem_waiter* wake_next = nullptr;  // a granter's chain of waiters to ready once mu_ is released
  sem_wstate state = sem_wstate::idle;
  int code = ctx_live;  // the context's error, when cancelled
  ctx_waiter cw;        // linked to the context's node while registered (the node's mu)
};

// semaphore_impl: the queue and the counts (see the file comment). n >= 0
// everywhere: goro::semaphore checks it.
class semaphore_impl {
 public:
  explicit semaphore_impl(std::int64_t size) noexcept : size_(size) {}
  semaphore_impl(const semaphore_impl&) = delete;
  semaphore_impl& operator=(const semaphore_impl&) = delete;

  bool try_acquire(std::int64_t n) noexcept {
    rt_lock_guard lk(mu_);
    if (!fits_now_locked(n)) return false;
    cur_ += n;
    return true;
  }

  // acquire waits for n units or for node's cancellation (nullptr: never).
  // Returns ctx_live with the units taken, or the context's error with
  // nothing taken. A node already cancelled fails even if the units are free
  // (Go: the done check comes first). Any goroutine or plain thread; may
  // throw goroutine_exit (shutdown), and std::logic_error inside blocking<>
  // when it would park.
  int acquire(ctx_node* node, std::int64_t n) {
    if (node != nullptr) {
      int e = node->err.load(std::memory_order_acquire);
      if (e != ctx_live) return e;
    }
    {
      rt_lock_guard lk(mu_);
      if (fits_now_locked(n)) {
        cur_ += n;
        return ctx_live;
      }
    }
    throw_if_blocking();
    return acquire_slow(node, n);
  }

  // release gives back n units and grants the waiters at the head that now
  // fit. More than is held: std::logic_error, nothing changed. Any goroutine
  // or plain thread; never parks.
  void release(std::int64_t n) {
    plain_call_scope scope;
    sem_waiter* wake;
    {
      rt_lock_guard lk(mu_);
      if (n > cur_) throw std::logic_error("goro::semaphore::release: released more than held");
      cur_ -= n;
      wake = grant_locked();
    }
    ready_chain(wake);
  }

 private:
  // fits_now_locked: may a new request for n take its units at once?
  bool fits_now_locked(std::int64_t n) const noexcept { return head_ == nullptr && size_ - cur_ >= n; }

  int acquire_slow(ctx_node* node, std::int64_t n) {
    sem_waiter w;
    w.gp = getg();
    w.sem = this;
    w.n = n;
    w.cw.fn = &ctx_fired;
    w.cw.arg = &w;
    struct unregister {  // on every way out, goroutine_exit included
      ctx_node* node;
      ctx_waiter* cw;
      ~unregister() { ctx_unregister(node, cw); }  // nullptr: nothing
    } unreg{nullptr, &w.cw};
    if (node != nullptr) {
      // Outside mu_ (the lock order). Registered before queueing: a
      // cancellation from now on reaches this record.
      if (!ctx_register(node, &w.cw)) return node->err.load(std::memory_order_acquire);
      unreg.node = node;
    }
    mu_.lock();
    if (w.state == sem_wstate::cancelled) {  // cancelled since the check in acquire
      mu_.unlock();
      return w.code;
    }
    if (fits_now_locked(n)) {  // released since the first try
      cur_ += n;
      mu_.unlock();
      return ctx_live;
    }
    if (n > size_) {
      w.state = sem_wstate::doomed;
    } else {
      w.state = sem_wstate::queued;
      w.prev = tail_;
      if (tail_ != nullptr) tail_->next = &w;
      else head_ = &w;
      tail_ = &w;
    }
    park(
        wait_reason::semaphore_acquire,
        [](g*, void* s) noexcept {
          static_cast<semaphore_impl*>(s)->mu_.unlock();
          return true;
        },
        this, park_opts{&cancel_waiter, &w});
    // Readied by whoever moved w to granted or cancelled, under mu_ (ready
    // publishes it).
    return w.state == sem_wstate::granted ? ctx_live : w.code;
  }

  // unlink_locked takes w out of the queue. Requires mu_.
  void unlink_locked(sem_waiter* w) noexcept {
    GORO_DETAIL_DCHECK(mu_.held(), "unlink_locked: mu_ not held");
    if (w->prev != nullptr) w->prev->next = w->next;
    else head_ = w->next;
    if (w->next != nullptr) w->next->prev = w->prev;
    else tail_ = w->prev;
    w->prev = w->next = nullptr;
  }

  // grant_locked grants the head waiters while they fit (Go: notifyWaiters);
  // returns them chained through wake_next, for ready_chain once mu_ is
  // released. Stops at the first that does not fit, even if a later, smaller
  // one would: no starvation of large requests. Requires mu_.
  sem_waiter* grant_locked() noexcept {
    GORO_DETAIL_DCHECK(mu_.held(), "grant_locked: mu_ not held");
    sem_waiter* first = nullptr;
    sem_waiter** link = &first;
    while (head_ != nullptr && size_ - cur_ >= head_->n) {
      sem_waiter* w = head_;
      unlink_locked(w);
      cur_ += w->n;
      w->state = sem_wstate::granted;
      w->wake_next = nullptr;
      *link = w;
      link = &w->wake_next;
    }
    return first;
  }

  // remove_locked takes a queued or doomed waiter out for a cancellation;
  // a head leaving lets those behind it that now fit through (Go: the
  // notifyWaiters of a cancelled front waiter). Returns them, as
  // grant_locked. Requires mu_.
  sem_waiter* remove_locked(sem_waiter* w) noexcept {
    GORO_DETAIL_DCHECK(mu_.held(), "remove_locked: mu_ not held");
    if (w->state != sem_wstate::queued) return nullptr;  // doomed: never queued
    bool was_head = head_ == w;
    unlink_locked(w);
    return was_head ? grant_locked() : nullptr;
  }

  // ready_chain readies the waiters of a grant_locked chain. Reads each link
  // before its ready: a readied waiter may return and end its frame.
  static void ready_chain(sem_waiter* w) noexcept {
    while (w != nullptr) {
      sem_waiter* next = w->wake_next;
      ready(w->gp);
      w = next;
    }
  }

  // ctx_fired: w's context was cancelled (the ctx_waiter fn: under the
  // node's mu, maybe inside a timer's firing; takes only mu_, readies).
  static void ctx_fired(ctx_waiter* cw, int code) noexcept {
    if (code == ctx_released) return;  // freed without a cancel: not while its acquire holds the context
    plain_call_scope scope;            // a plain thread's cancel: between the unlink and the ready
    auto* w = static_cast<sem_waiter*>(cw->arg);
    semaphore_impl* s = w->sem;
    g* wake = nullptr;
    sem_waiter* granted = nullptr;
    {
      rt_lock_guard lk(s->mu_);
      switch (w->state) {
        case sem_wstate::idle:  // not parked: it sees this before it would queue
          w->state = sem_wstate::cancelled;
          w->code = code;
          break;
        case sem_wstate::queued:
        case sem_wstate::doomed:
          granted = s->remove_locked(w);
          w->state = sem_wstate::cancelled;
          w->code = code;
          wake = w->gp;
          break;
        default:  // granted first: the grant wins
          break;
      }
    }
    if (wake != nullptr) ready(wake);
    ready_chain(granted);
  }

  // cancel_waiter: the shutdown unwinder's cancel_fn (run.hpp, "Unwinding at
  // shutdown"): true if it took w out (the unwinder readies w).
  static bool cancel_waiter(g*, void* arg) noexcept {
    auto* w = static_cast<sem_waiter*>(arg);
    semaphore_impl* s = w->sem;
    sem_waiter* granted = nullptr;
    {
      rt_lock_guard lk(s->mu_);
      if (w->state != sem_wstate::queued && w->state != sem_wstate::doomed) return false;
      granted = s->remove_locked(w);
      w->state = sem_wstate::unwound;
    }
    ready_chain(granted);
    return true;
  }

  const std::int64_t size_;
  rt_mutex mu_;
  std::int64_t cur_ = 0;          // mu_: units held
  sem_waiter* head_ = nullptr;  // mu_: the FIFO of queued waiters
  sem_waiter* tail_ = nullptr;  // mu_
};

}  // namespace detail

// semaphore: Go's golang.org/x/sync/semaphore.Weighted (docs/reference.md,
// "Cancellation"). Neither copyable nor movable.
class semaphore {
 public:
  // A semaphore of n units, all free. n < 0: std::invalid_argument.
  explicit semaphore(std::int64_t n) : impl_(checked(n, "goro::semaphore: negative size")) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  // acquire takes n units, waiting (FIFO) until they are free. n larger than
  // the size waits for ever (the deadlock check may report it).
  void acquire(std::int64_t n = 1) { acquire(context(), n); }

  // acquire(ctx, n): as acquire(n), unless ctx is done first, or already:
  // then throws canceled_error or timeout_error, having taken nothing.
  void acquire(const context& ctx, std::int64_t n = 1) {
    detail::rt_region rt;
    checked(n, "goro::semaphore::acquire: negative n");
    detail::sched_point();
    detail::ctx_node* node = detail::ctx_access::node(ctx);
    int err = impl_.acquire(node, n);
    if (err != detail::ctx_live) {
      detail::race_acquire(node);
      detail::throw_ctx_error(err);
    }
    detail::race_acquire(this);
  }

  // try_acquire takes n units if acquire would take them without waiting.
  bool try_acquire(std::int64_t n = 1) {
    checked(n, "goro::semaphore::try_acquire: negative n");
    return detail::sync_try_acquire([this, n] { return impl_.try_acquire(n); }, this);
  }

  // release gives back n units, waking the waiters they satisfy. Releasing
  // more than is held throws std::logic_error and changes nothing.
  void release(std::int64_t n = 1) {
    checked(n, "goro::semaphore::release: negative n");
    detail::sync_release(this, [this, n] { impl_.release(n); });
  }

 private:
  static std::int64_t checked(std::int64_t n, const char* msg) {
    if (n < 0) throw std::invalid_argument(msg);
    return n;
  }

  detail::semaphore_impl impl_;
};

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SEMAPHORE_HPP
