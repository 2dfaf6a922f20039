// goro/select.hpp — select (Go: select.go, selectgo).
//
// selectgo, as Go does it:
//   1. Poll order: a random permutation of the cases with a non-nil channel
//      (the uniform choice among ready cases). Lock order: the same cases sorted
//      by channel address, so that two selects never lock two channels in
//      opposite orders; a channel listed twice is locked once.
//   2. Lock every channel; pass 1 takes the first ready case in poll order.
//   3. Else the default case, if any.
//   4. Else pass 2 enqueues one sudog per case (on the select's stack) and parks
//      once; the first waker to win g.select_done (chan.hpp, waitq::dequeue)
//      completes its case and records its sudog in g.param.
//   5. Pass 3 locks again, takes every other sudog out of its queue, unlocks.
// Handlers run after all of this, outside every runtime lock.
#ifndef GORO_DETAIL_SELECT_HPP
#define GORO_DETAIL_SELECT_HPP

#include "chan.hpp"
#include "config.hpp"
#include "park.hpp"

#include <algorithm>
#include <vector>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

enum class case_kind : std::uint8_t { recv, send, fallback };

// scase: one case, untyped (Go: scase).
struct scase {
  hchan* c;      // nullptr: nil channel (never ready) or the default case
  void* elem;    // send: the T to send; recv: the std::optional<T> to fill
  case_kind kind;
};

struct select_state {
  scase* cases;
  std::uint16_t* lockorder;  // indices of the non-nil cases, by channel address
  std::size_t nlock;
  sudog* sgs;                // one per case, indexed like cases
};

// describe_select: the describe_fn of a goroutine parked in select: each
// channel it waits on, in case order ("select on send to chan<int> 0x...
// (cap 0, len 0), receive from chan<...> ...").
inline std::uint64_t describe_select(const void* obj, std::string* out, const dump_ctx*) {
  if (out == nullptr) return 0;
  const select_state& st = *static_cast<const select_state*>(obj);
  *out += "select on";
  bool first = true;
  // lockorder lists the non-nil cases; show them in case order.
  std::vector<std::uint16_t> idx(st.lockorder, st.lockorder + st.nlock);
  std::sort(idx.begin(), idx.end());
  for (std::uint16_t i : idx) {
    const scase& k = st.cases[i];
    *out += first ? " " : ", ";
    first = false;
    *out += k.kind == case_kind::send ? "send to " : "receive from ";
    describe_chan_to(*out, k.c);
  }
  return 0;
}

inline void sellock(const select_state& st) noexcept {
  hchan* last = nullptr;
  for (std::size_t k = 0; k < st.nlock; ++k) {
    hchan* c = st.cases[st.lockorder[k]].c;
    if (c != last) c->lock.lock();
    last = c;
  }
}

inline void selunlock(const select_state& st) noexcept {
  // Unlock in reverse; a channel listed twice is unlocked once (its first
  // appearance in lock order).
  for (std::size_t k = st.nlock; k-- > 0;) {
    hchan* c = st.cases[st.lockorder[k]].c;
    if (k > 0 && st.cases[st.lockorder[k - 1]].c == c) continue;
    c->lock.unlock();
  }
}

// dequeue_all takes this select's sudogs out of their queues (except keep,
// the winner, already dequeued by its waker). Requires every lock.
inline void dequeue_all(const select_state& st, sudog* keep) noexcept {
  for (std::size_t k = 0; k < st.nlock; ++k) {
    std::uint16_t i = st.lockorder[k];
    sudog* sg = &st.sgs[i];
    if (sg == keep || !sg->queued) continue;
    (st.cases[i].kind == case_kind::recv ? st.cases[i].c->recvq : st.cases[i].c->sendq).remove(sg);
  }
}

struct select_result {
  std::size_t index;
  bool recv_ok;  // recv case: a value (true) or closed (false)
};

// selectgo runs a select over cases[0..n): the chosen case's index. Throws
// closed_channel for a send case on a closed channel. default_index: the
// default case's index, or n if none. pollorder, lockorder and sgs: scratch of
// n entries. Any goroutine or plain thread.
inline select_result selectgo(scase* cases, std::size_t n, std::size_t default_index, std::uint16_t* pollorder,
                              std::uint16_t* lockorder, sudog* sgs) {
  safe_point();
  // 1. Poll order (inside-out Fisher-Yates over the non-nil cases), lock order.
  std::size_t npoll = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (cases[i].c == nullptr) continue;
    std::size_t j = cheaprand() % (npoll + 1);
    pollorder[npoll] = pollorder[j];
    pollorder[j] = static_cast<std::uint16_t>(i);
    ++npoll;
  }
  // Lock order: by channel address; cases on one channel keep their random
  // poll order, so that when a parked select has several cases on a channel
  // the one a waker finds first is random too (Go: TestPseudoRandomSend).
  // Insertion sort: n is small and std::stable_sort may allocate.
  std::copy(pollorder, pollorder + npoll, lockorder);
  for (std::size_t k = 1; k < npoll; ++k) {
    std::uint16_t x = lockorder[k];
    std::size_t j = k;
    while (j > 0 && std::less<hchan*>()(cases[x].c, cases[lockorder[j - 1]].c)) {
      lockorder[j] = lockorder[j - 1];
      --j;
    }
    lockorder[j] = x;
  }
  select_state st{cases, lockorder, npoll, sgs};

  if (npoll == 0) {
    if (default_index < n) return {default_index, false};
    park_forever(wait_reason::select_no_cases);
  }

  plain_call_scope scope;
  // 2. Pass 1: the first ready case in poll order.
  sellock(st);
  for (std::size_t k = 0; k < npoll; ++k) {
    std::uint16_t i = pollorder[k];
    hchan* c = cases[i].c;
    if (cases[i].kind == case_kind::recv) {
      if (sudog* sg = c->sendq.dequeue()) {
        g* gp = take_from_sender(c, sg, cases[i].elem);
        selunlock(st);
        ready(gp);
        return {i, true};
      }
      if (c->count() > 0) {
        buf_take(c, cases[i].elem);
        selunlock(st);
        return {i, true};
      }
      if (c->is_closed()) {
        selunlock(st);
        return {i, false};
      }
    } else {
      if (c->is_closed()) {
        selunlock(st);
        throw closed_channel("goro::select: send on closed channel");
      }
      if (sudog* sg = c->recvq.dequeue()) {
        g* gp = give_to_receiver(c, sg, cases[i].elem);
        selunlock(st);
        ready(gp);
        return {i, true};
      }
      if (c->count() < c->dataqsiz) {
        buf_put(c, cases[i].elem);
        selunlock(st);
        return {i, true};
      }
    }
  }
  // 3. Default.
  if (default_index < n) {
    selunlock(st);
    return {default_index, false};
  }
  // 4. Pass 2: enqueue on every channel, park once.
  if (GORO_DETAIL_UNLIKELY(in_blocking())) {
    selunlock(st);
    throw_if_blocking();
  }
  g* gp = getg();
  gp->select_done.store(0, std::memory_order_relaxed);  // no waker can see us before the unlock
  gp->param = nullptr;
  for (std::size_t k = 0; k < npoll; ++k) {
    std::uint16_t i = lockorder[k];
    sudog* sg = &sgs[i];
    sg->gp = gp;
    sg->elem = cases[i].elem;
    sg->c = cases[i].c;
    sg->case_index = i;
    sg->is_select = true;
    sg->success = false;
    (cases[i].kind == case_kind::recv ? cases[i].c->recvq : cases[i].c->sendq).enqueue(sg);
  }
  park(
      wait_reason::select, [](g*, void* s) noexcept { selunlock(*static_cast<select_state*>(s)); return true; }, &st,
      park_opts{[](g* g2, void* s) noexcept {
                  // Unwinding: win select_done like a waker would, then leave every queue.
                  std::uint32_t zero = 0;
                  if (!g2->select_done.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) return false;
                  auto* st2 = static_cast<select_state*>(s);
                  sellock(*st2);
                  dequeue_all(*st2, nullptr);
                  selunlock(*st2);
                  return true;
                },
                &st, &st, &describe_select});
  // 5. Pass 3: leave the other queues.
  auto* winner = static_cast<sudog*>(gp->param);
  sellock(st);
  dequeue_all(st, winner);
  selunlock(st);
  if (winner == nullptr) fatal("selectgo: woken without a case");
  std::size_t i = winner->case_index;
  if (cases[i].kind == case_kind::send && !winner->success) throw closed_channel("goro::select: send on closed channel");
  return {i, winner->success};
}

template <class T, class F>
struct recv_case_t {
  chan<T> ch;
  F fn;
  std::optional<T> val;
};
template <class T, class F>
struct send_case_t {
  chan<T> ch;
  T value;
  F fn;
};
template <class F>
struct default_case_t {
  F fn;
};

template <class C>
struct case_traits;
template <class T, class F>
struct case_traits<recv_case_t<T, F>> {
  static constexpr bool is_default = false;
  static scase make(recv_case_t<T, F>& c) noexcept { return scase{chan_ptr(c.ch), &c.val, case_kind::recv}; }
  static void handle(recv_case_t<T, F>& c) { std::invoke(std::move(c.fn), std::move(c.val)); }
};
template <class T, class F>
struct case_traits<send_case_t<T, F>> {
  static constexpr bool is_default = false;
  static scase make(send_case_t<T, F>& c) noexcept { return scase{chan_ptr(c.ch), &c.value, case_kind::send}; }
  static void handle(send_case_t<T, F>& c) { std::invoke(std::move(c.fn)); }
};
template <class F>
struct case_traits<default_case_t<F>> {
  static constexpr bool is_default = true;
  static scase make(default_case_t<F>&) noexcept { return scase{nullptr, nullptr, case_kind::fallback}; }
  static void handle(default_case_t<F>& c) { std::invoke(std::move(c.fn)); }
};

template <class... Cases, std::size_t... I>
std::size_t select_impl(std::index_sequence<I...>, Cases&... cs) {
  constexpr std::size_t n = sizeof...(Cases);
  scase cases[n] = {case_traits<Cases>::make(cs)...};
  constexpr bool defaults[n] = {case_traits<Cases>::is_default...};
  std::size_t default_index = n;
  for (std::size_t i = 0; i < n; ++i)
    if (defaults[i]) default_index = i;
  std::uint16_t pollorder[n];
  std::uint16_t lockorder[n];
  sudog sgs[n];
  select_result r;
  {
    rt_region rt;
    for (const scase& c : cases) race_release(c.c);  // the race detector: as if each case were tried
    r = selectgo(cases, n, default_index, pollorder, lockorder, sgs);
    race_acquire(cases[r.index].c);
    wake_point();  // before the chosen case's handler: a woken peer may run first
  }
  (void)((r.index == I ? (case_traits<Cases>::handle(cs), true) : false) || ...);
  return r.index;
}

}  // namespace detail

// recv_case: ready when ch has a value or is closed; on_value gets
// std::optional<T> (std::nullopt: closed).
template <class T, class F>
detail::recv_case_t<T, std::decay_t<F>> recv_case(chan<T> ch, F&& on_value) {
  return {std::move(ch), std::forward<F>(on_value), std::nullopt};
}

// send_case: ready when ch can take value now; owns value until then (it is
// destroyed if another case is taken).
template <class T, class F>
detail::send_case_t<T, std::decay_t<F>> send_case(chan<T> ch, std::type_identity_t<T> value, F&& on_sent) {
  return {std::move(ch), std::move(value), std::forward<F>(on_sent)};
}

// default_case: taken when no other case is ready.
template <class F>
detail::default_case_t<std::decay_t<F>> default_case(F&& on_default) {
  return {std::forward<F>(on_default)};
}

// select: Go's select statement. Returns the index of the case taken, among
// the arguments (default_case included), after running its handler.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  static_assert(sizeof...(Cases) < 65536, "goro::select: too many cases");
  static_assert(((detail::case_traits<std::decay_t<Cases>>::is_default ? 1 : 0) + ... + 0) <= 1,
                "goro::select: at most one default_case");
  if constexpr (sizeof...(Cases) == 0) {
    detail::park_forever(detail::wait_reason::select_no_cases);
    return 0;
  } else {
    return detail::select_impl<std::decay_t<Cases>...>(std::index_sequence_for<Cases...>{}, cases...);
  }
}

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SELECT_HPP
