// goro/context.hpp — cancellation (Go: the context package): goro::context,
// with_cancel / with_deadline / with_timeout, sleep_for(d, ctx), and the
// waiter hook that goro's own blocking calls (semaphore::acquire, dial) use
// to be woken by a context.
//
// A context is a handle to a ctx_node (nullptr: background, never cancelled).
// Nodes form a tree: each derived node links into its parent's child list, so
// that cancelling a node cancels its whole subtree.
//
// Ownership. ctx_node::refs counts the context handles and cancel functions
// of the node plus one per linked child (a child keeps its parent). When it
// reaches zero nobody can observe the node any more: its deadline timer is
// deleted, it unlinks from its parent (dropping the parent's count, which may
// end the parent too) and is freed. So a context whose handles are all gone
// leaves nothing behind, cancelled or not, while a parent nobody holds stays
// as long as it has children, to carry a grandparent's cancellation to them.
// (Go keeps a dropped, uncancelled child linked until its parent is cancelled:
// the leak `go vet` warns about. goro has destructors instead.) A done()
// channel or stop_token() taken from a context is closed or stopped by a
// cancellation that happens while the context still has a handle.
//
// Locks. ctx_node::mu guards the node's child list, its waiters, its done
// channel and its stop relay; a child's sibling links and in_parent are
// guarded by its parent's mu. Order: a parent's mu before a child's, and a
// node's mu before the leaf locks that cancellation takes (a channel's, a
// waiter's object's). Nothing takes a node's mu while holding a timer heap's
// lock except the deadline timer's firing, which is allowed because nothing
// that holds a node's mu takes a heap lock: a cancellation deletes timers and
// runs std::stop_callback code only after it has released every node lock.
//
// Cancelling (ctx_cancel_tree) walks the subtree depth first, holding the
// locks of the path from the root to the node it is at: a child is detached
// from its parent's list and processed while the parent's mu is held, so a
// child dropped meanwhile (refs at zero, waiting for that mu to unlink) is
// never freed under the walk; once the walk is past a child it marks it
// detached, and the child's release no longer waits. Each node gets err
// (release: err() readers acquire it), its done channel closed, its waiters
// called. The walk is iterative (any depth) and takes no reference it would
// have to drop inside a timer's firing.
//
// Deadlines. A node's deadline is the earlier of its own and its parent's;
// it arms a timer only if its own is earlier (Go: WithDeadline), so every
// descendant's timer is earlier than an ancestor's: when an ancestor's timer
// fires, the descendants' timers are due too, and firing finds them
// cancelled. The firing runs under its heap's lock (timers.hpp): it does the
// walk above, which takes only node and leaf locks, and leaves the rest:
// std::stop_callback code may block, so it runs on a goroutine (the node's
// stop relay, below), as Go runs context.AfterFunc functions.
//
// Stop tokens. stop_token() makes the node's std::stop_source on first use.
// An explicit cancel requests the stop on the cancelling thread once every
// node lock is released (the callbacks run there, as std::stop_source's do).
// A deadline needs a goroutine for it: stop_token() of a node with a
// deadline starts a relay goroutine that parks until the node is cancelled
// (then requests the stop) or released (then just ends). The relay shares
// only a small refcounted stop_relay with the node, never the node itself.
#ifndef GORO_DETAIL_CONTEXT_HPP
#define GORO_DETAIL_CONTEXT_HPP

#include "chan.hpp"
#include "config.hpp"
#include "lock.hpp"
#include "park.hpp"
#include "sched_timers.hpp"
#include "time.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

// canceled_error: a context was cancelled (docs/reference.md, "Errors"). Go:
// context.Canceled. A context's deadline gives timeout_error instead.
struct canceled_error : std::system_error {
  canceled_error() : std::system_error(std::make_error_code(std::errc::operation_canceled), "goro: context canceled") {}
  explicit canceled_error(const std::string& what)
      : std::system_error(std::make_error_code(std::errc::operation_canceled), what) {}
};

class context;

namespace detail {

struct ctx_access;

// Error codes a node carries: 0 while live.
inline constexpr int ctx_live = 0;
inline constexpr int ctx_canceled = static_cast<int>(std::errc::operation_canceled);
inline constexpr int ctx_timed_out = static_cast<int>(std::errc::timed_out);
inline constexpr int ctx_released = -1;  // waiters only: the node was freed, never cancelled

// throw_ctx_error: canceled_error or timeout_error for a node's err.
[[noreturn]] inline void throw_ctx_error(int err) {
  if (err == ctx_timed_out) throw timeout_error("goro: context deadline exceeded");
  throw canceled_error();
}

// ctx_waiter: an internal listener on one context, called once when it is
// cancelled (code: its err) or released (ctx_released). Lives with whoever
// waits (usually on its stack), linked while registered. fn runs with the
// node's mu held, possibly inside a timer's firing: like a timer's f it may
// take leaf locks and ready goroutines, never park, allocate, or take a node's
// or a heap's lock. Fields guarded by the node's mu.
struct ctx_waiter {
  void (*fn)(ctx_waiter*, int code) noexcept = nullptr;
  void* arg = nullptr;
  ctx_waiter* prev = nullptr;
  ctx_waiter* next = nullptr;
  bool linked = false;
};

// stop_relay: what a deadline's stop request needs (see "Stop tokens"):
// the stop source and the relay goroutine parked on it. Refcounted by the
// node and the relay goroutine. Fields guarded by mu.
struct stop_relay {
  std::atomic<int> refs{2};
  rt_mutex mu;
  std::stop_source source;
  int outcome = ctx_live;  // ctx_canceled / ctx_timed_out (request the stop) or ctx_released
  g* parked = nullptr;     // the relay goroutine, while parked
  bool unwound = false;    // shutdown cancelled its park

  // post: the node's outcome; wakes the relay. Leaf lock only.
  void post(int code) noexcept {
    g* wake = nullptr;
    {
      rt_lock_guard lk(mu);
      if (outcome != ctx_live) return;
      outcome = code;
      wake = std::exchange(parked, nullptr);
    }
    if (wake != nullptr) ready(wake);
  }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

struct ctx_node {
  explicit ctx_node(ctx_node* p) noexcept : parent(p) {}

  std::atomic<std::int64_t> refs{1};
  std::atomic<int> err{ctx_live};  // set once, under mu (release); read anywhere (acquire)
  rt_mutex mu;
  ctx_node* const parent;          // holds a count on it; nullptr: derived from background

  // Immutable after with_*: the effective deadline (nanotime; no_timer: none)
  // and the time point deadline() reports; the own timer, if armed.
  std::int64_t deadline = no_timer;
  clock::time_point deadline_tp{};
  rtimer timer;
  sched_t* timer_sched = nullptr;  // non-null: timer armed there

  // Guarded by parent->mu.
  ctx_node* sib_prev = nullptr;
  ctx_node* sib_next = nullptr;
  bool in_parent = false;
  // detached: out of the parent's list, and no walk of the parent is still
  // using the node: its release need not take the parent's lock (a fan-out
  // of woken goroutines would otherwise queue on the cancelling parent's mu
  // for its whole walk). Set, release, by whoever unlinked it, once done with
  // it (under the parent's lock: ctx_unlink_from_parent; after the node's
  // subtree: the walk); read, acquire, by ctx_unlink_from_parent. Never
  // cleared.
  std::atomic<bool> detached{false};

  // Guarded by mu.
  ctx_node* children = nullptr;
  ctx_waiter* waiters = nullptr;
  chan<std::monostate> done{nullptr};
  std::optional<std::stop_source> stop;
  stop_relay* relay = nullptr;

  bool try_retain() noexcept {
    std::int64_t r = refs.load(std::memory_order_relaxed);
    while (r != 0)
      if (refs.compare_exchange_weak(r, r + 1, std::memory_order_relaxed)) return true;
    return false;
  }
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }

  // Requires parent's mu.
  void link_child_locked(ctx_node* c) noexcept {
    c->sib_prev = nullptr;
    c->sib_next = children;
    if (children != nullptr) children->sib_prev = c;
    children = c;
    c->in_parent = true;
  }
  void unlink_child_locked(ctx_node* c) noexcept {
    if (c->sib_prev != nullptr) c->sib_prev->sib_next = c->sib_next;
    else children = c->sib_next;
    if (c->sib_next != nullptr) c->sib_next->sib_prev = c->sib_prev;
    c->sib_prev = c->sib_next = nullptr;
    c->in_parent = false;
  }

  // Requires mu.
  void add_waiter_locked(ctx_waiter* w) noexcept {
    w->prev = nullptr;
    w->next = waiters;
    if (waiters != nullptr) waiters->prev = w;
    waiters = w;
    w->linked = true;
  }
  void remove_waiter_locked(ctx_waiter* w) noexcept {
    if (w->prev != nullptr) w->prev->next = w->next;
    else waiters = w->next;
    if (w->next != nullptr) w->next->prev = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
  }
  // fire_waiters_locked calls and unlinks every waiter. Requires mu.
  void fire_waiters_locked(int code) noexcept {
    while (ctx_waiter* w = waiters) {
      remove_waiter_locked(w);
      w->fn(w, code);
    }
  }

  // mark_locked: this node's own part of a cancellation. Requires mu and err
  // live. Closing done readies its receivers (a leaf lock). by_timer: the
  // relay requests the stop; else the canceller does (ctx_finish), and the
  // relay just ends.
  void mark_locked(int code, bool by_timer) noexcept {
    err.store(code, std::memory_order_release);
    race_release(this);
    if (done) {
      race_release(chan_ptr(done));
      closechan(chan_ptr(done));  // never closed before: cannot throw
    }
    fire_waiters_locked(code);
    if (relay != nullptr) relay->post(by_timer ? code : ctx_released);
  }
};

// ctx_cancel_tree cancels n and every descendant that is still live (see
// "Cancelling"). Returns the nodes whose timers and stop sources a caller
// outside any lock should finish (ctx_finish), each with a count taken;
// collect = false (a timer's firing) takes none.
// (An allocation failure in it, for a path deeper than ctx_path holds inline
// or a node to collect, ends the process: it is noexcept, as a runtime
// allocation failure is fatal elsewhere.)
inline void ctx_cancel_tree(ctx_node* n, int code, std::vector<ctx_node*>* collect) noexcept {
  // The locked path, root first: inline up to 16 deep, so that the common
  // walk allocates nothing.
  struct ctx_path {
    ctx_node* inline_[16];
    std::vector<ctx_node*> more;
    std::size_t size = 0;
    void push(ctx_node* x) {
      if (size < 16) inline_[size] = x;
      else more.push_back(x);
      ++size;
    }
    ctx_node* back() const noexcept { return size <= 16 ? inline_[size - 1] : more.back(); }
    void pop() noexcept {
      if (size > 16) more.pop_back();
      --size;
    }
  } path;
  auto enter = [&](ctx_node* x) noexcept {
    x->mu.lock();
    if (x->err.load(std::memory_order_relaxed) == ctx_live) {
      x->mark_locked(code, collect == nullptr);
      if (collect != nullptr && (x->timer_sched != nullptr || x->stop) && x->try_retain()) collect->push_back(x);
    }
    path.push(x);
  };
  enter(n);
  while (path.size != 0) {
    ctx_node* top = path.back();
    if (ctx_node* c = top->children) {
      top->unlink_child_locked(c);  // a cancelled node's children are detached (Go: children = nil)
      enter(c);
    } else {
      top->mu.unlock();
      path.pop();
      // Done with top; its parent (now the back) is still locked. From here
      // top's release need not wait for that lock (see ctx_node::detached).
      if (path.size != 0) top->detached.store(true, std::memory_order_release);
    }
  }
}

inline void ctx_release(ctx_node* n) noexcept;

// ctx_finish: the part of a cancellation outside every lock (explicit
// cancels): delete the nodes' timers and request their stops (running
// std::stop_callback code on this thread), then drop the walk's counts.
inline void ctx_finish(std::vector<ctx_node*>& nodes) noexcept {
  for (ctx_node* x : nodes) {
    if (x->timer_sched != nullptr) timer_del(x->timer_sched, &x->timer);
    std::optional<std::stop_source> src;
    {
      rt_lock_guard lk(x->mu);
      if (x->stop) src = *x->stop;
    }
    if (src) src->request_stop();  // callbacks may throw only into std::terminate, as with std::stop_source
  }
  for (ctx_node* x : nodes) ctx_release(x);
}

// ctx_unlink_from_parent: a cancelled node leaves its parent's list at once
// (Go: removeChild): it is of no more use there. The count it holds on the
// parent stays until it is freed.
inline void ctx_unlink_from_parent(ctx_node* n) noexcept {
  if (n->detached.load(std::memory_order_acquire)) return;
  if (ctx_node* p = n->parent) {
    rt_lock_guard lk(p->mu);
    // Not in the list: a walk took it out and marks it detached itself once
    // past it, or (a deadline that fired before ctx_derive linked it) it
    // never was, and ctx_derive will not link it.
    if (n->in_parent) {
      p->unlink_child_locked(n);
      n->detached.store(true, std::memory_order_release);
    }
  }
}

// ctx_cancel: an explicit cancel (a cancel function). Any goroutine or thread.
inline void ctx_cancel(ctx_node* n, int code) noexcept {
  if (n->err.load(std::memory_order_acquire) != ctx_live) return;
  std::vector<ctx_node*> finish;
  ctx_cancel_tree(n, code, &finish);
  ctx_unlink_from_parent(n);
  ctx_finish(finish);
}

// ctx_release drops one count of n; the last one frees n (see "Ownership"),
// then drops the count n held on its parent, and so on up.
inline void ctx_release(ctx_node* n) noexcept {
  while (n != nullptr && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // No handle and no child: only the parent's list and the timer still
    // reach n. Delete the timer first (after it, its firing is neither
    // running nor going to run), then leave the list.
    if (n->timer_sched != nullptr) timer_del(n->timer_sched, &n->timer);
    ctx_unlink_from_parent(n);
    ctx_node* p = n->parent;
    stop_relay* relay = nullptr;
    {
      rt_lock_guard lk(n->mu);  // waits for a walk that holds it (see "Cancelling")
      n->fire_waiters_locked(ctx_released);  // none expected: a waiter's owner holds a handle
      relay = std::exchange(n->relay, nullptr);
    }
    if (relay != nullptr) {
      relay->post(ctx_released);
      relay->release();
    }
    delete n;
    n = p;
  }
}

// ctx_deadline_fired: a node's deadline timer (under its heap's lock).
inline void ctx_deadline_fired(rtimer* t, std::int64_t) noexcept {
  auto* n = static_cast<ctx_node*>(t->arg);
  // n cannot be freed under this firing: ctx_release deletes the timer first,
  // which waits for it. If n is being released it has no handle left and no
  // child: nobody to tell.
  if (n->refs.load(std::memory_order_acquire) == 0) return;
  if (n->err.load(std::memory_order_acquire) != ctx_live) return;
  ctx_cancel_tree(n, ctx_timed_out, nullptr);
  ctx_unlink_from_parent(n);
}

// ctx_register adds w to n's waiters; false (w not added) if n is already
// cancelled. n == nullptr (background): never fires; true.
inline bool ctx_register(ctx_node* n, ctx_waiter* w) noexcept {
  if (n == nullptr) return true;
  rt_lock_guard lk(n->mu);
  if (n->err.load(std::memory_order_relaxed) != ctx_live) return false;
  n->add_waiter_locked(w);
  return true;
}

// ctx_unregister removes w if it is still registered. After it returns, w's
// fn is neither running nor going to run.
inline void ctx_unregister(ctx_node* n, ctx_waiter* w) noexcept {
  if (n == nullptr) return;
  rt_lock_guard lk(n->mu);
  if (w->linked) n->remove_waiter_locked(w);
}

// ctx_derive creates a child of parent (nullptr: background) with deadline
// d_ns (no_timer: the parent's, if any) at time point d_tp. A parent already
// cancelled gives a child born cancelled, unlinked.
inline ctx_node* ctx_derive(ctx_node* parent, std::int64_t d_ns, clock::time_point d_tp) {
  sched_t* ts = d_ns != no_timer ? current_sched() : nullptr;  // may throw: before anything is made
  auto* n = new ctx_node(parent);
  if (parent != nullptr) parent->retain();
  // Every field a walk may read (timer_sched) is set, and the timer armed,
  // before n is linked (under the parent's lock, where walks find it). The
  // timer may fire before the link: it cancels n alone (its unlink finds n
  // not in the list), and n is then not linked.
  bool own_deadline = d_ns != no_timer;
  if (parent != nullptr && parent->deadline <= d_ns) {  // the parent's is earlier (or equal): no timer of our own
    n->deadline = parent->deadline;
    n->deadline_tp = parent->deadline_tp;
    own_deadline = false;
  } else if (own_deadline) {
    n->deadline = d_ns;
    n->deadline_tp = d_tp;
  }
  int born = own_deadline && d_ns <= nanotime() ? ctx_timed_out : ctx_live;  // already past: cancelled at once (Go)
  if (own_deadline && born == ctx_live) {
    n->timer.arg = n;
    n->timer.f = &ctx_deadline_fired;
    n->timer.when = d_ns;
    n->timer_sched = ts;
    timer_add(ts, &n->timer);
  }
  if (parent != nullptr && born == ctx_live) {
    rt_lock_guard lk(parent->mu);
    born = parent->err.load(std::memory_order_relaxed);
    if (born == ctx_live && n->err.load(std::memory_order_acquire) == ctx_live) parent->link_child_locked(n);
    else if (born == ctx_live) born = ctx_timed_out;  // its own timer fired already
  }
  if (born != ctx_live) {  // never linked: only its own timer may still see n
    if (n->timer_sched != nullptr) timer_del(n->timer_sched, &n->timer);
    if (n->err.load(std::memory_order_relaxed) == ctx_live) n->err.store(born, std::memory_order_relaxed);
    n->detached.store(true, std::memory_order_relaxed);
  }
  return n;
}

// ctx_sleep parks the caller until nanotime() >= when or n is cancelled;
// returns n's err, or ctx_live when the time came first. The wait record
// is on the caller's stack; a timer and a ctx_waiter race to wake it, and
// `outcome`'s first CAS wins (the loser does nothing).
inline int ctx_sleep(ctx_node* n, std::int64_t when);

}  // namespace detail

// context: see docs/reference.md, "Cancellation". A shared handle: copies
// name the same context. Default-constructed: background, never cancelled.
class context {
 public:
  context() noexcept = default;
  context(const context& o) noexcept : n_(o.n_) {
    if (n_ != nullptr) n_->retain();
  }
  context(context&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  context& operator=(const context& o) noexcept {
    context(o).swap(*this);
    return *this;
  }
  context& operator=(context&& o) noexcept {
    context(std::move(o)).swap(*this);
    return *this;
  }
  ~context() {
    if (n_ != nullptr) detail::ctx_release(n_);
  }
  void swap(context& o) noexcept { std::swap(n_, o.n_); }

  // done: a channel closed once the context is cancelled (receive it in
  // select); the nil channel for background, which blocks for ever.
  chan<std::monostate> done() const {
    if (n_ == nullptr) return nullptr;
    detail::rt_lock_guard lk(n_->mu);
    if (!n_->done) {
      n_->done = chan<std::monostate>();
      if (n_->err.load(std::memory_order_relaxed) != detail::ctx_live) detail::closechan(detail::chan_ptr(n_->done));
    }
    return n_->done;
  }

  // err: {} while live, then std::errc::operation_canceled or
  // std::errc::timed_out (Go: context.Canceled, DeadlineExceeded).
  std::error_code err() const noexcept {
    if (n_ == nullptr) return {};
    int e = n_->err.load(std::memory_order_acquire);
    if (e == detail::ctx_live) return {};
    detail::race_acquire(n_);
    return std::make_error_code(static_cast<std::errc>(e));
  }

  // deadline: the earlier of this context's and its ancestors' deadlines.
  std::optional<clock::time_point> deadline() const noexcept {
    if (n_ == nullptr || n_->deadline == detail::no_timer) return std::nullopt;
    return n_->deadline_tp;
  }

  // stop_token: stop requested once the context is cancelled, so that
  // std::stop_callback and std::jthread-style code work with it (see
  // "Stop tokens" in context.hpp for where callbacks run).
  std::stop_token stop_token() const;

  // throw_if_done: throws canceled_error or timeout_error once cancelled.
  void throw_if_done() const {
    if (n_ == nullptr) return;
    int e = n_->err.load(std::memory_order_acquire);
    if (e != detail::ctx_live) {
      detail::race_acquire(n_);
      detail::throw_ctx_error(e);
    }
  }

 private:
  friend struct detail::ctx_access;
  explicit context(detail::ctx_node* n) noexcept : n_(n) {}
  detail::ctx_node* n_ = nullptr;
};

namespace detail {
struct ctx_access {
  static ctx_node* node(const context& c) noexcept { return c.n_; }
  static context adopt(ctx_node* n) noexcept { return context(n); }
};
}  // namespace detail

// cancel_handle: what with_cancel and friends return: the derived context
// and the function that cancels it (and its subtree). Calling cancel again,
// from any goroutine or thread, does nothing. Both hold the context: it lives
// until both are gone.
struct cancel_handle {
  context ctx;
  std::function<void()> cancel;
};

namespace detail {
inline cancel_handle make_cancel_handle(ctx_node* n) {
  context ctx = ctx_access::adopt(n);
  n->retain();
  struct canceller {  // owns one count of n; copies take their own
    ctx_node* n;
    canceller(ctx_node* x) noexcept : n(x) {}
    canceller(const canceller& o) noexcept : n(o.n) { n->retain(); }
    canceller& operator=(const canceller&) = delete;
    ~canceller() { ctx_release(n); }
    void operator()() const {
      rt_region rt;
      sched_point(false);
      ctx_cancel(n, ctx_canceled);
      wake_point();
    }
  };
  return cancel_handle{std::move(ctx), canceller(n)};  // if std::function throws, both counts are dropped
}
}  // namespace detail

// with_cancel: a child of parent, cancelled by the returned function or with
// its parent (Go: context.WithCancel).
inline cancel_handle with_cancel(const context& parent) {
  detail::rt_region rt;
  return detail::make_cancel_handle(
      detail::ctx_derive(detail::ctx_access::node(parent), detail::no_timer, clock::time_point{}));
}

// with_deadline: as with_cancel, and cancelled with std::errc::timed_out at
// d (or at the parent's deadline, if earlier). A d already past gives a
// context cancelled at once. Time points saturate (docs/reference.md, "Time").
template <class Dur>
cancel_handle with_deadline(const context& parent, std::chrono::time_point<clock, Dur> d) {
  detail::rt_region rt;
  std::int64_t ns = detail::deadline_ns(d);
  return detail::make_cancel_handle(detail::ctx_derive(detail::ctx_access::node(parent), ns, detail::time_from_ns(ns)));
}

// with_timeout: with_deadline(parent, now() + timeout), saturating.
template <class Rep, class Period>
cancel_handle with_timeout(const context& parent, std::chrono::duration<Rep, Period> timeout) {
  detail::rt_region rt;
  std::int64_t ns = detail::when_after(detail::to_ns(timeout));
  return detail::make_cancel_handle(detail::ctx_derive(detail::ctx_access::node(parent), ns, detail::time_from_ns(ns)));
}

namespace detail {

// ctx_relay_main: the relay goroutine of a node with a deadline (see "Stop
// tokens"): waits for the node's outcome; requests the stop if it was a
// cancellation.
inline void ctx_relay_main(stop_relay* r) {
  struct drop {
    stop_relay* r;
    ~drop() { r->release(); }
  } d{r};
  int outcome;
  {
    rt_region rt;
    r->mu.lock();
    if (r->outcome == ctx_live) {
      park(
          wait_reason::context_stop,
          [](g* gp, void* arg) noexcept {
            auto* rr = static_cast<stop_relay*>(arg);
            rr->parked = gp;
            rr->mu.unlock();
            return true;
          },
          r,
          park_opts{[](g*, void* arg) noexcept {
                      auto* rr = static_cast<stop_relay*>(arg);
                      rt_lock_guard lk(rr->mu);
                      if (rr->parked == nullptr) return false;  // post() is readying it
                      rr->parked = nullptr;
                      rr->unwound = true;
                      return true;
                    },
                    r});
      r->mu.lock();
    }
    outcome = r->outcome;
    r->mu.unlock();
  }
  if (outcome == ctx_canceled || outcome == ctx_timed_out) r->source.request_stop();
}

}  // namespace detail

inline std::stop_token context::stop_token() const {
  if (n_ == nullptr) return std::stop_token();  // background: stop_possible() is false
  detail::rt_region rt;
  detail::stop_relay* start = nullptr;
  std::stop_token tok;
  bool stop_now = false;
  {
    detail::rt_lock_guard lk(n_->mu);
    if (!n_->stop) {
      n_->stop.emplace();
      int e = n_->err.load(std::memory_order_relaxed);
      if (e != detail::ctx_live) stop_now = true;
      else if (n_->deadline != detail::no_timer) {
        start = new detail::stop_relay();
        start->source = *n_->stop;
        n_->relay = start;
      }
    }
    tok = n_->stop->get_token();
    if (stop_now) n_->stop->request_stop();  // no callback can be registered yet
  }
  if (start != nullptr) {
    try {
      go(&detail::ctx_relay_main, start);
    } catch (...) {
      {
        detail::rt_lock_guard lk(n_->mu);
        n_->relay = nullptr;
      }
      start->release();
      start->release();
      throw;
    }
  }
  return tok;
}

namespace detail {

struct ctx_sleep_rec {
  g* gp = nullptr;
  sched_t* s = nullptr;  // whose heap the timer goes to
  std::atomic<int> outcome{ctx_live - 2};  // pending until the first CAS
  ctx_node* n = nullptr;
  rtimer t;
  ctx_waiter w;
  static constexpr int pending = ctx_live - 2;
  static constexpr int unwound = ctx_live - 3;

  bool claim(int v) noexcept {
    int e = pending;
    return outcome.compare_exchange_strong(e, v, std::memory_order_acq_rel);
  }
};

inline int ctx_sleep(ctx_node* n, std::int64_t when) {
  ctx_sleep_rec rec;
  rec.n = n;
  rec.gp = getg();  // the goroutine, or the plain thread's own g
  rec.t.when = when;
  rec.t.arg = &rec;
  rec.t.f = [](rtimer* t, std::int64_t) noexcept {
    auto* r = static_cast<ctx_sleep_rec*>(t->arg);
    if (r->claim(ctx_live)) ready(r->gp);
  };
  rec.w.arg = &rec;
  rec.w.fn = [](ctx_waiter* w, int code) noexcept {
    auto* r = static_cast<ctx_sleep_rec*>(w->arg);
    if (r->claim(code)) ready(r->gp);
  };
  rec.s = current_sched();
  // After the wake-up (or an unwinding): neither waker may still fire.
  struct cleanup {
    ctx_sleep_rec& r;
    ~cleanup() {
      timer_del(r.s, &r.t);
      ctx_unregister(r.n, &r.w);
    }
  } c{rec};
  park(
      wait_reason::sleep,
      [](g*, void* arg) noexcept {
        auto* r = static_cast<ctx_sleep_rec*>(arg);
        timer_add(r->s, &r->t);
        if (ctx_register(r->n, &r->w)) return true;
        // Already cancelled: do not park, unless the timer won meanwhile
        // (then it readies us).
        return !r->claim(r->n->err.load(std::memory_order_acquire));
      },
      &rec, park_opts{[](g*, void* arg) noexcept { return static_cast<ctx_sleep_rec*>(arg)->claim(ctx_sleep_rec::unwound); }, &rec});
  return rec.outcome.load(std::memory_order_acquire);
}

}  // namespace detail

// sleep_for(d, ctx): sleeps for d unless ctx ends first; then throws
// canceled_error or timeout_error (Go: select on time.After and ctx.Done()).
// Saturates as sleep_for(d) does. A cancelled ctx throws at once.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d, const context& ctx) {
  detail::rt_region rt;
  detail::sched_point();
  detail::ctx_node* n = detail::ctx_access::node(ctx);
  ctx.throw_if_done();
  if (d <= d.zero()) return;
  int out = detail::ctx_sleep(n, detail::when_after(detail::to_ns(d)));
  if (out != detail::ctx_live) {
    detail::race_acquire(n);
    detail::throw_ctx_error(out);
  }
}

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_CONTEXT_HPP
