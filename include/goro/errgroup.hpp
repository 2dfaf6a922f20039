// goro/errgroup.hpp — goro::errgroup, Go's golang.org/x/sync/errgroup: a
// wait_group whose goroutines may fail. The first exception one of them
// throws is kept, cancels the group's context (if it has one), and is
// rethrown by wait(); set_limit bounds how many of its goroutines run at once.
// See docs/reference.md, "Cancellation".
//
// Built from goro's parts, as Go builds Group: the goroutines are started by
// wait_group::go (so the count, the creation site and deterministic mode's
// edges are wait_group's), the limit is a buffered channel used as a
// semaphore (a token sent before a goroutine starts, received back when its
// body is over), and the context is with_cancel's.
//
// Shared state. What the goroutines touch (the wait_group, the first error,
// the cancel function, the active count) lives in an errgroup_state that each
// goroutine holds a reference to: a goroutine unwound at shutdown after its
// group's scope has ended (main returned without wait()) touches nothing freed.
//
// The first error. errgroup_state::first guards err: the first failing
// goroutine moves it from none to claiming (a CAS: later failures see it
// taken and drop their exceptions), alone writes err, publishes it (release),
// and only then cancels the context. wait() reads err only once it has seen
// `published` (acquire), after wg.wait(); since the claimant publishes before
// its own done(), a wait() that returns after that goroutine's end always
// sees the error. goroutine_exit (shutdown's unwinding) is never an error: it
// passes through to the goroutine's bottom frame.
//
// Order of a goroutine's end: its body returns or throws; a failure is
// published and the context cancelled; the user's callable and arguments are
// destroyed; the semaphore token is given back; the active count drops; wg's
// done(). The goroutine's own reference to the state is dropped last, after
// done(): the errgroup may already be gone, and the state (with wg) must
// outlive done(). So when wait() returns, the context of
// the first failure is already cancelled and every token is back. wait()
// cancels the context itself after wg.wait() and before it returns or
// rethrows (Go: Wait calls the WithContext cancel function).
//
// Active goroutines. errgroup_state::active counts go() and try_go() calls
// from their start (a go() parked at the limit counts) to their goroutine's
// end; set_limit throws std::logic_error while it is not zero, whatever the
// old and new limits (Go panics only when a limit was set and tokens are out,
// and lets SetLimit(-1) through). Each goroutine gives its token back to the
// semaphore it took it from (errgroup_task::sem), never to a newer one. Like
// Go, set_limit must not race with go() or try_go() (call it before starting
// goroutines, or after wait()).
//
// Deterministic mode: go() and try_go() are scheduling points (wait_group's
// add(1), the semaphore's send, the goroutine's spawn) and happen before the
// goroutine starts; a goroutine's end (wg's done) happens before the wait()
// it releases returns, and wait() is a scheduling point (wg's wait).
#ifndef GORO_DETAIL_ERRGROUP_HPP
#define GORO_DETAIL_ERRGROUP_HPP

#include "chan.hpp"
#include "config.hpp"
#include "context.hpp"
#include "park.hpp"
#include "sync.hpp"

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

struct errgroup_state {
  static constexpr int none = 0, claiming = 1, published = 2;

  wait_group wg;
  std::atomic<int> active{0};
  std::atomic<int> first{none};
  std::exception_ptr err;  // written once, by first's claimant (see "The first error")
  context ctx;             // default (background) without a parent
  std::function<void()> cancel;  // empty without a parent

  // fail: a goroutine's exception; the first one is kept and cancels ctx.
  void fail(std::exception_ptr e) {
    int expect = none;
    if (!first.compare_exchange_strong(expect, claiming, std::memory_order_acq_rel)) return;
    err = std::move(e);
    first.store(published, std::memory_order_release);
    if (cancel) cancel();
  }

  // leave: the end of a started go()/try_go(): its token back to sem (the
  // semaphore it was taken from; nil without a limit), then the active count.
  // Runs in the goroutine's last frame, possibly while goroutine_exit
  // unwinds it, so it must neither throw nor unwind: the token is received
  // without try_recv's preemption point (it is in the buffer, or a go()
  // parked at the limit hands it over; either way no wait).
  void leave(const chan<std::monostate>& sem) noexcept {
    if (hchan* c = chan_ptr(sem)) {
      rt_region rt;
      std::optional<std::monostate> token;
      race_release(c);
      chanrecv(c, &token, false);
      race_acquire(c);
    }
    active.fetch_sub(1, std::memory_order_release);
  }
};

// errgroup_task: a group goroutine's body around the user's closure C (see
// "Order of a goroutine's end" for end's order).
template <class C>
struct errgroup_task {
  std::shared_ptr<errgroup_state> st;
  chan<std::monostate> sem;
  std::optional<C> body;

  void operator()() {
    struct end {
      errgroup_task* t;
      ~end() noexcept(false) {
        t->body.reset();
        t->st->leave(t->sem);
        t->st->wg.done();
      }
    } e{this};
    try {
      (*body)();
    } catch (const goroutine_exit&) {
      throw;  // shutdown's unwinding: not the group's error
    } catch (...) {
      st->fail(std::current_exception());
    }
  }
};

}  // namespace detail

// errgroup: see docs/reference.md, "Cancellation". Not copyable: its
// goroutines refer to it (through the shared state above).
class errgroup {
 public:
  // A group without a context: ctx() is background, never cancelled.
  errgroup() : st_(std::make_shared<detail::errgroup_state>()) {}

  // A group whose ctx() derives from parent (with_cancel): cancelled at the
  // first failure, when wait() returns, or with parent.
  explicit errgroup(const context& parent) : errgroup() {
    cancel_handle h = with_cancel(parent);
    st_->ctx = std::move(h.ctx);
    st_->cancel = std::move(h.cancel);
  }

  errgroup(const errgroup&) = delete;
  errgroup& operator=(const errgroup&) = delete;

  const context& ctx() const noexcept { return st_->ctx; }

  // set_limit: at most n goroutines of the group at once; n < 0: no limit; 0
  // blocks every go() (and fails every try_go()). std::logic_error while a
  // goroutine of the group, or a go() or try_go(), is active.
  void set_limit(int n) {
    int active = st_->active.load(std::memory_order_acquire);
    if (active != 0)
      throw std::logic_error("goro::errgroup::set_limit: modify limit while " + std::to_string(active) +
                             " goroutines in the group are still active");
    if (n < 0) sem_ = nullptr;
    else sem_ = chan<std::monostate>(n);
  }

  // go runs f(args...) in a new goroutine of the group, as wait_group::go
  // does (copies, up to 8 arguments, then the creation site), after parking
  // while the limit is reached. f's exception is the group's (see wait).
  template <class F>
  void go(F&& f, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f));
  }
  template <class F, class A1>
  void go(F&& f, A1&& a1, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1));
  }
  template <class F, class A1, class A2>
  void go(F&& f, A1&& a1, A2&& a2, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
  }
  template <class F, class A1, class A2, class A3>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
  }
  template <class F, class A1, class A2, class A3, class A4>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, A8&& a8, detail::source_loc site = detail::source_loc::here()) {
    go_at(true, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7), std::forward<A8>(a8));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8, class A9, class... More>
  void go(F&&, A1&&, A2&&, A3&&, A4&&, A5&&, A6&&, A7&&, A8&&, A9&&, More&&...) {
    static_assert(detail::always_false<F>, "goro: errgroup::go takes at most 8 arguments after the callable "
                  "(the creation site is a defaulted parameter after them); pass more in a struct or a lambda's captures");
  }

  // try_go: go, unless the limit is reached: then false, and f and args are
  // left untouched.
  template <class F>
  bool try_go(F&& f, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f));
  }
  template <class F, class A1>
  bool try_go(F&& f, A1&& a1, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1));
  }
  template <class F, class A1, class A2>
  bool try_go(F&& f, A1&& a1, A2&& a2, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
  }
  template <class F, class A1, class A2, class A3>
  bool try_go(F&& f, A1&& a1, A2&& a2, A3&& a3, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
  }
  template <class F, class A1, class A2, class A3, class A4>
  bool try_go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5>
  bool try_go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6>
  bool try_go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7>
  bool try_go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8>
  bool try_go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, A8&& a8, detail::source_loc site = detail::source_loc::here()) {
    return go_at(false, site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7), std::forward<A8>(a8));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8, class A9, class... More>
  bool try_go(F&&, A1&&, A2&&, A3&&, A4&&, A5&&, A6&&, A7&&, A8&&, A9&&, More&&...) {
    static_assert(detail::always_false<F>, "goro: errgroup::try_go takes at most 8 arguments after the callable "
                  "(the creation site is a defaulted parameter after them); pass more in a struct or a lambda's captures");
    return false;
  }

  // wait: parks until every goroutine of the group has ended, cancels ctx(),
  // then rethrows the first exception one of them threw (every wait() does,
  // as Go's Wait returns the group's error every time).
  void wait() {
    st_->wg.wait();
    if (st_->cancel) st_->cancel();
    if (st_->first.load(std::memory_order_acquire) == detail::errgroup_state::published) std::rethrow_exception(st_->err);
  }

 private:
  // go_at: take a slot (park for it if block, else give up), then count the
  // goroutine in wg and start it (errgroup_task done()s it). A spawn that
  // throws never started the goroutine: the count, token and active count
  // are taken back.
  template <class F, class... A>
  bool go_at(bool block, detail::source_loc site, F&& f, A&&... a) {
    using C = detail::closure<F, A...>;
    detail::errgroup_state& st = *st_;
    st.active.fetch_add(1, std::memory_order_relaxed);
    bool slot = false;     // a token of sem_ is ours
    bool counted = false;  // wg counts the goroutine
    try {
      if (sem_) {
        if (block) sem_.send(std::monostate{});
        else if (!sem_.try_send(std::monostate{})) {
          st.active.fetch_sub(1, std::memory_order_relaxed);
          return false;
        }
        slot = true;
      }
      st.wg.add(1);
      counted = true;
      detail::spawn(detail::errgroup_task<C>{st_, sem_, std::optional<C>(C{std::forward<F>(f), {std::forward<A>(a)...}})}, site);
    } catch (...) {
      st.leave(slot ? sem_ : chan<std::monostate>(nullptr));
      if (counted) st.wg.done();
      throw;
    }
    return true;
  }

  std::shared_ptr<detail::errgroup_state> st_;
  chan<std::monostate> sem_{nullptr};  // the limit's semaphore; nil: no limit
};

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_ERRGROUP_HPP
