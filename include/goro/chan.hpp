// goro/chan.hpp — channels (Go: chan.go).
//
// hchan is Go's channel: one runtime lock, a ring buffer of dataqsiz slots and
// two FIFO queues of waiting goroutines (sendq, recvq) whose wait records
// (sudog) live on the waiters' own stacks. The core operations are untyped,
// as Go's are, so that select (select.hpp) shares them: element values move
// through a small per-type table (elem_ops), always under the channel lock,
// which is why T's move constructor must be noexcept.
//
// Invariants (Go's, chan.go):
//   At least one of sendq and recvq is empty, except for an unbuffered channel
//   with a single goroutine blocked on it in select for both sending and
//   receiving: then the sizes are limited only by select.
//   For buffered channels: qcount > 0 implies recvq is empty; qcount < dataqsiz
//   implies sendq is empty.
//   closed, qcount and the queues change only under lock. closed and qcount are
//   also read without it, by the non-blocking fast paths (see chanrecv and
//   chansend) and by size().
// Element conventions for sudog.elem: a sender's points to the T it sends (on
// its stack); a receiver's to the std::optional<T> it receives into.
// Hand-off: a sender that finds a parked receiver moves its value straight
// into the receiver's optional (and the reverse), skipping the buffer.
// Lifetime: each handle holds a reference (a parked waiter is inside a call on
// a live handle); the last one deletes the channel, destroying buffered values.
#ifndef GORO_DETAIL_CHAN_HPP
#define GORO_DETAIL_CHAN_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "park.hpp"

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {

// closed_channel: a send on (or close of) a closed channel (Go's panics
// "send on closed channel" and "close of closed channel").
struct closed_channel : std::logic_error {
  using std::logic_error::logic_error;
};

namespace detail {

struct hchan;

// sudog: a goroutine waiting on a channel (Go: sudog). On the waiter's stack.
// Fields are guarded by the lock of the channel whose queue holds it; success
// and the value behind elem are written by the waker before ready().
struct sudog {
  g* gp = nullptr;
  void* elem = nullptr;         // see "Element conventions" above
  hchan* c = nullptr;
  sudog* next = nullptr;        // waitq links
  sudog* prev = nullptr;
  sudog* waitlink = nullptr;    // select: the next sudog of the same select
  std::uint32_t case_index = 0; // select: which case this is
  bool is_select = false;
  bool queued = false;          // in a waitq now
  bool success = false;         // woken by a value (true) or by close (false)
};

// Fault injection for the Relacy model's broken variants (tests/relacy/chan.cpp
// builds with it set to 1, and must then fail): chanrecv_fast reads closed
// before emptiness, the reordering Go's chanrecv comment warns about. Never
// define it elsewhere.
#ifndef GORO_DETAIL_CHAN_RECV_FAST_CLOSED_FIRST
#define GORO_DETAIL_CHAN_RECV_FAST_CLOSED_FIRST 0
#endif
// The second one (its GORO_CHAN_BROKEN_PUBLISH variant sets it to relaxed):
// the order of qcount_store.
#ifndef GORO_DETAIL_CHAN_QCOUNT_ORDER
#define GORO_DETAIL_CHAN_QCOUNT_ORDER std::memory_order_release
#endif

// basic_waitq: a FIFO of sudogs (Go: waitq). Requires the channel's lock,
// except that first is also read without it by the non-blocking fast paths
// (empty_hint). A template over the atomic type so that the Relacy model
// (tests/relacy/chan.cpp) checks this very code; the runtime's is waitq.
template <template <class> class Atomic>
struct basic_waitq {
  Atomic<sudog*> first{nullptr};
  sudog* last = nullptr;

  // head / empty: under the channel's lock (relaxed: the lock orders them).
  sudog* head() const noexcept { return first.load(std::memory_order_relaxed); }
  bool empty() const noexcept { return head() == nullptr; }
  // empty_hint: without the lock, for the fast paths (see "Fast paths"). The
  // acquire pairs with the release stores of first below: a reader that sees
  // the queue as some critical section left it also sees every earlier
  // critical section of the channel, a close included.
  bool empty_hint() const noexcept { return first.load(std::memory_order_acquire) == nullptr; }

  void enqueue(sudog* sg) noexcept {
    sg->next = nullptr;
    sg->prev = last;
    if (last != nullptr) last->next = sg;
    else first.store(sg, std::memory_order_release);  // release: see empty_hint
    last = sg;
    sg->queued = true;
  }

  void remove(sudog* sg) noexcept {
    if (sg->prev != nullptr) sg->prev->next = sg->next;
    else first.store(sg->next, std::memory_order_release);  // release: see empty_hint
    if (sg->next != nullptr) sg->next->prev = sg->prev;
    else last = sg->prev;
    sg->next = sg->prev = nullptr;
    sg->queued = false;
  }

  // dequeue removes the first sudog that can be woken: a select's sudog only if
  // this waker wins its goroutine's select_done CAS (the select's other sudogs
  // are then stale and get skipped, and the select removes them itself).
  sudog* dequeue() noexcept {
    for (;;) {
      sudog* sg = head();
      if (sg == nullptr) return nullptr;
      remove(sg);
      if (sg->is_select && !win_select(sg)) continue;
      return sg;
    }
  }

 private:
  static bool win_select(sudog* sg) noexcept;
};
template <template <class> class Atomic>
bool basic_waitq<Atomic>::win_select(sudog* sg) noexcept {
  std::uint32_t zero = 0;
  return sg->gp->select_done.compare_exchange_strong(zero, 1, std::memory_order_acq_rel);
}
using waitq = basic_waitq<std::atomic>;

// chan_state: the part of a channel that the non-blocking fast paths read
// without its lock; hchan derives from it. Written only under the channel's
// lock, through the helpers below. A template over the atomic type so that
// the Relacy model (tests/relacy/chan.cpp) checks this very code.
//
// Fast paths (Go: chan.go's full/empty and the fast paths of chansend and
// chanrecv). A try_send or try_recv that would block answers without the lock
// from a few single-word reads; its answer must be true at some moment during
// the call (linearizable). The moments come from two facts: a closed channel
// never reopens, and emptying and closing happen in separate critical sections
// under the same lock. Memory orders:
//   qcount, first: release stores under the lock (qcount_store, waitq); the
//     fast paths load them with acquire, so a reader that sees what a critical
//     section left also sees every earlier one: in particular, a reader that
//     sees the buffer drained after a close then sees the close.
//   closed: release store under the lock (mark_closed); acquire load in
//     chanrecv_fast, so a reader that sees the close also sees the values sent
//     before it (its re-check of emptiness cannot miss them).
template <template <class> class Atomic>
struct chan_state {
  Atomic<std::size_t> qcount{0};      // values in buf; written under lock
  Atomic<std::uint32_t> closed{0};    // written under lock, once, 0 -> 1
  std::size_t dataqsiz = 0;           // immutable
  basic_waitq<Atomic> recvq;          // lock (first also read by the fast paths)
  basic_waitq<Atomic> sendq;          // lock (first also read by the fast paths)

  // count: qcount under the lock (relaxed: the lock orders it).
  std::size_t count() const noexcept { return qcount.load(std::memory_order_relaxed); }
  // qcount_store: under the lock. release: see "Fast paths".
  void qcount_store(std::size_t n) noexcept { qcount.store(n, GORO_DETAIL_CHAN_QCOUNT_ORDER); }
  bool is_closed() const noexcept { return closed.load(std::memory_order_relaxed) != 0; }  // under the lock
  // mark_closed: under the lock. release: pairs with chanrecv_fast's acquire.
  void mark_closed() noexcept { closed.store(1, std::memory_order_release); }

  // full reports whether a send would block, read without the lock (Go: full).
  bool full_hint() const noexcept {
    if (dataqsiz == 0) return recvq.empty_hint();
    return qcount.load(std::memory_order_acquire) == dataqsiz;
  }
  // empty reports whether a receive would block, read without the lock (Go: empty).
  bool empty_hint() const noexcept {
    if (dataqsiz == 0) return sendq.empty_hint();
    return qcount.load(std::memory_order_acquire) == 0;
  }
};

// fast_outcome: what a non-blocking fast path decided.
enum class fast_outcome { take_lock, would_block, closed };

// chansend_fast: a try_send's check without the lock (Go: chansend). "Open,
// then full" means "would block": the channel cannot go from not full to full
// once closed, so the two reads imply a moment between them when it was open
// and full. Either read may be stale; the relaxed closed load is enough
// because a stale "open" only makes the answer that earlier moment, and a
// close that happens before the call is seen (coherence). Otherwise take_lock.
template <template <class> class Atomic>
fast_outcome chansend_fast(const chan_state<Atomic>* c) noexcept {
  if (c->closed.load(std::memory_order_relaxed) == 0 && c->full_hint()) return fast_outcome::would_block;
  return fast_outcome::take_lock;
}

// chanrecv_fast: a try_recv's check without the lock (Go: chanrecv). Empty,
// then open, means "would block" (the later "open" implies it was open at the
// earlier moment). Empty, then closed, re-checks emptiness: a value may have
// arrived between the two reads, and a value sent before the close must never
// be reported as "closed". Reading closed first is wrong: an open, non-empty
// channel that is closed and then drained would read as "open" and "empty",
// a state it never had (Go: TestNonblockRecvRace).
template <template <class> class Atomic>
fast_outcome chanrecv_fast(const chan_state<Atomic>* c) noexcept {
  if constexpr (GORO_DETAIL_CHAN_RECV_FAST_CLOSED_FIRST) {  // the broken variant: never in the runtime
    bool open = c->closed.load(std::memory_order_acquire) == 0;
    if (!c->empty_hint()) return fast_outcome::take_lock;
    if (open) return fast_outcome::would_block;
  } else {
    if (!c->empty_hint()) return fast_outcome::take_lock;
    // acquire: pairs with mark_closed's release (see "Fast paths").
    if (c->closed.load(std::memory_order_acquire) == 0) return fast_outcome::would_block;
  }
  if (c->empty_hint()) return fast_outcome::closed;
  return fast_outcome::take_lock;
}

// elem_ops: how to move the element type; one static table per T.
struct elem_ops {
  std::size_t size;
  std::size_t align;
  void (*construct)(void* dst, void* src) noexcept;  // new (dst) T(std::move(*src))
  void (*destroy)(void* p) noexcept;                 // p->~T()
  void (*emplace_opt)(void* opt, void* src) noexcept;  // std::optional<T>::emplace(std::move(*src))
  const char* (*type_name)() noexcept;               // T's name, for dumps (type_name_of)
};

// type_name_of: T's name as the compiler spells it, from __PRETTY_FUNCTION__
// ("... [with T = int]" in g++, "... [T = int]" in clang): no RTTI needed.
// For dumps only (the parse allocates nothing: a static per T).
template <class T>
const char* type_name_of() noexcept {
  static const std::string name = [f = std::string_view(__PRETTY_FUNCTION__)]() mutable {
    std::size_t at = f.find("T = ");
    if (at == std::string_view::npos) return std::string("?");
    f.remove_prefix(at + 4);
    std::size_t end = f.find_first_of(";]");
    // the last ']' closes the bracket: types may contain ']' (arrays) only in
    // clang's spelling, which has no ';'
    if (f.find(';') == std::string_view::npos) end = f.rfind(']');
    return std::string(f.substr(0, end));
  }();
  return name.c_str();
}

template <class T>
inline constexpr elem_ops elem_ops_for{
    sizeof(T),
    alignof(T),
    [](void* dst, void* src) noexcept { ::new (dst) T(std::move(*static_cast<T*>(src))); },
    [](void* p) noexcept { static_cast<T*>(p)->~T(); },
    [](void* opt, void* src) noexcept { static_cast<std::optional<T>*>(opt)->emplace(std::move(*static_cast<T*>(src))); },
    &type_name_of<T>,
};

// hchan: a channel (Go: hchan). chan_state holds qcount, closed, dataqsiz
// and the wait queues.
struct hchan : chan_state<std::atomic> {
  rt_mutex lock;
  std::size_t sendx = 0;               // lock
  std::size_t recvx = 0;               // lock
  const elem_ops* ops = nullptr;       // immutable
  unsigned char* buf = nullptr;        // immutable pointer; slots guarded by lock
  std::atomic<std::int64_t> refs{1};   // handles
  // on_destroy: called when the last handle goes, before the channel is freed
  // (goro::after cancels its timer there). Immutable once a handle escapes.
  void (*on_destroy)(hchan*) noexcept = nullptr;
  void* on_destroy_arg = nullptr;

  void* slot(std::size_t i) const noexcept { return buf + i * ops->size; }

  // make allocates a channel and its buffer in one block (Go: makechan's
  // single mallocgc): the hchan, then the slots at buf_offset. One allocation
  // instead of two per channel matters to the spawn-heavy shapes (fib and
  // skynet make a channel per few goroutines).
  static hchan* make(const elem_ops* ops, std::size_t cap) {
    std::size_t bytes = sizeof(hchan);
    if (cap > 0) {
      if (cap > (std::size_t{1} << 40) / (ops->size == 0 ? 1 : ops->size)) throw std::length_error("goro::chan: capacity too large");
      bytes = buf_offset(ops) + cap * ops->size;
    }
    void* mem = ::operator new(bytes, std::align_val_t{block_align(ops)});
    auto* c = ::new (mem) hchan();
    c->ops = ops;
    c->dataqsiz = cap;
    if (cap > 0) c->buf = static_cast<unsigned char*>(mem) + buf_offset(ops);
    return c;
  }

  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    // acq_rel: the last owner sees every other owner's use before deleting.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

 private:
  void destroy() noexcept {
    if (on_destroy != nullptr) on_destroy(this);
    std::size_t n = count();
    for (std::size_t i = 0; i < n; ++i) ops->destroy(slot((recvx + i) % dataqsiz));
    std::align_val_t al{block_align(ops)};
    this->~hchan();
    ::operator delete(static_cast<void*>(this), al);
  }

  // The block's alignment: the element's, at least hchan's and 16.
  static std::size_t block_align(const elem_ops* ops) noexcept {
    std::size_t a = ops->align < 16 ? 16 : ops->align;
    return a < alignof(hchan) ? alignof(hchan) : a;
  }
  // Where the slots start in the block: after the hchan, aligned for T.
  static std::size_t buf_offset(const elem_ops* ops) noexcept {
    std::size_t a = block_align(ops);
    return (sizeof(hchan) + a - 1) / a * a;
  }
};

// chan_park parks the caller in c's queue q (its sudog already enqueued,
// c->lock held): the lock is released after the switch, and the shutdown
// unwinder can take the sudog out again. The caller's handle keeps c alive
// meanwhile (a handle object is not shared mutable state: docs/reference.md,
// "Channels").
// describe_chan: the describe_fn of a goroutine parked on a channel:
// "chan<int> 0x... (cap 1, len 1)", plus ", closed".
inline void describe_chan_to(std::string& out, const hchan* c) {
  out += "chan<";
  out += c->ops->type_name();
  out += ">";
  append_addr(out, c);
  out += " (cap ";
  out += std::to_string(c->dataqsiz);
  out += ", len ";
  out += std::to_string(c->qcount.load(std::memory_order_relaxed));
  if (c->closed.load(std::memory_order_relaxed)) out += ", closed";
  out += ")";
}
inline std::uint64_t describe_chan(const void* obj, std::string* out, const dump_ctx*) {
  if (out != nullptr) describe_chan_to(*out, static_cast<const hchan*>(obj));
  return 0;
}

inline void chan_park(hchan* c, sudog* sg, waitq* q, wait_reason why) {
  struct cancel_arg {
    hchan* c;
    sudog* sg;
    waitq* q;
  } ca{c, sg, q};
  park(
      why, [](g*, void* ch) noexcept { static_cast<hchan*>(ch)->lock.unlock(); return true; }, c,
      park_opts{[](g*, void* a) noexcept {
                  auto* x = static_cast<cancel_arg*>(a);
                  rt_lock_guard lk(x->c->lock);
                  if (!x->sg->queued) return false;
                  x->q->remove(x->sg);
                  return true;
                },
                &ca, c, &describe_chan});
}

// park_forever blocks on a nil channel or an empty select: nothing wakes it but
// the shutdown unwinder.
inline void park_forever(wait_reason why) {
  throw_if_blocking();
  park(why, nullptr, nullptr, park_opts{[](g*, void*) noexcept { return true; }, nullptr});
  fatal("park_forever: resumed without unwinding");
}

// give_to_receiver moves src into the parked receiver sg (hand-off) and
// returns its G, for the caller to ready after unlocking (Go: send).
// Requires c->lock.
inline g* give_to_receiver(hchan* c, sudog* sg, void* src) noexcept {
  c->ops->emplace_opt(sg->elem, src);
  sg->success = true;
  sg->gp->param = sg;
  return sg->gp;
}

// buf_put / buf_take: the ring buffer. Require c->lock.
inline void buf_put(hchan* c, void* src) noexcept {
  c->ops->construct(c->slot(c->sendx), src);
  if (++c->sendx == c->dataqsiz) c->sendx = 0;
  c->qcount_store(c->count() + 1);
}
inline void buf_take(hchan* c, void* dst_opt) noexcept {
  void* head = c->slot(c->recvx);
  c->ops->emplace_opt(dst_opt, head);
  c->ops->destroy(head);
  if (++c->recvx == c->dataqsiz) c->recvx = 0;
  c->qcount_store(c->count() - 1);
}

// take_from_sender completes a receive from the parked sender sg and returns
// its G, for the caller to ready after unlocking (Go: recv). Unbuffered: take
// the sender's value. Full buffer: take the head, and the sender's value goes
// to the tail. Requires c->lock.
inline g* take_from_sender(hchan* c, sudog* sg, void* dst_opt) noexcept {
  if (c->dataqsiz == 0) {
    c->ops->emplace_opt(dst_opt, sg->elem);
  } else {
    void* head = c->slot(c->recvx);
    c->ops->emplace_opt(dst_opt, head);
    c->ops->destroy(head);
    c->ops->construct(head, sg->elem);  // the sender's value takes the freed slot
    if (++c->recvx == c->dataqsiz) c->recvx = 0;
    c->sendx = c->recvx;
  }
  sg->success = true;
  sg->gp->param = sg;
  return sg->gp;
}

// chansend sends the T at src on c (moving from it only when it succeeds).
// block: park until done; else return false when it would block. Throws
// closed_channel if c is or becomes closed. Any goroutine or plain thread.
// (Go: chansend.)
inline bool chansend(hchan* c, void* src, bool block) {
  // Non-blocking fast path: see chansend_fast.
  if (!block && chansend_fast(c) == fast_outcome::would_block) return false;
  plain_call_scope scope;
  c->lock.lock();
  if (c->is_closed()) {
    c->lock.unlock();
    throw closed_channel("goro::chan: send on closed channel");
  }
  if (sudog* sg = c->recvq.dequeue()) {
    g* gp = give_to_receiver(c, sg, src);
    c->lock.unlock();
    ready(gp);
    return true;
  }
  if (c->count() < c->dataqsiz) {
    buf_put(c, src);
    c->lock.unlock();
    return true;
  }
  if (!block) {
    c->lock.unlock();
    return false;
  }
  if (GORO_DETAIL_UNLIKELY(in_blocking())) {
    c->lock.unlock();
    throw_if_blocking();
  }
  sudog sg;
  sg.gp = getg();
  sg.elem = src;
  sg.c = c;
  c->sendq.enqueue(&sg);
  chan_park(c, &sg, &c->sendq, wait_reason::chan_send);
  if (!sg.success) throw closed_channel("goro::chan: send on closed channel");
  return true;
}

// recv_outcome: what chanrecv did.
enum class recv_outcome { would_block, value, closed };

// chanrecv receives from c into the std::optional at dst (emplaced on a
// value; left empty when closed). block: park until a value or close.
// Any goroutine or plain thread. (Go: chanrecv.)
inline recv_outcome chanrecv(hchan* c, void* dst, bool block) {
  // Non-blocking fast path: see chanrecv_fast.
  if (!block) {
    fast_outcome f = chanrecv_fast(c);
    if (f == fast_outcome::would_block) return recv_outcome::would_block;
    if (f == fast_outcome::closed) return recv_outcome::closed;
  }
  plain_call_scope scope;
  c->lock.lock();
  if (c->is_closed() && c->count() == 0) {
    c->lock.unlock();
    return recv_outcome::closed;
  }
  if (sudog* sg = c->sendq.dequeue()) {
    g* gp = take_from_sender(c, sg, dst);
    c->lock.unlock();
    ready(gp);
    return recv_outcome::value;
  }
  if (c->count() > 0) {
    buf_take(c, dst);
    c->lock.unlock();
    return recv_outcome::value;
  }
  if (!block) {
    c->lock.unlock();
    return recv_outcome::would_block;
  }
  if (GORO_DETAIL_UNLIKELY(in_blocking())) {
    c->lock.unlock();
    throw_if_blocking();
  }
  sudog sg;
  sg.gp = getg();
  sg.elem = dst;
  sg.c = c;
  c->recvq.enqueue(&sg);
  chan_park(c, &sg, &c->recvq, wait_reason::chan_receive);
  return sg.success ? recv_outcome::value : recv_outcome::closed;
}

// closechan closes c and wakes every waiter: receivers get "closed",
// senders throw closed_channel (Go: closechan). Any goroutine or thread.
inline void closechan(hchan* c) {
  plain_call_scope scope;
  g* wake = nullptr;
  {
    rt_lock_guard lk(c->lock);
    if (c->is_closed()) throw closed_channel("goro::chan: close of closed channel");
    c->mark_closed();
    for (waitq* q : {&c->recvq, &c->sendq}) {
      while (sudog* sg = q->dequeue()) {
        sg->success = false;
        sg->gp->param = sg;
        sg->gp->schedlink = wake;  // the G is parked: its schedlink is free
        wake = sg->gp;
      }
    }
  }
  while (wake != nullptr) {
    g* gp = wake;
    wake = gp->schedlink;
    ready(gp);
  }
}

template <class T>
concept chan_capacity = std::integral<T> && !std::same_as<std::remove_cv_t<T>, bool> && !std::same_as<std::remove_cv_t<T>, char> &&
                        !std::same_as<std::remove_cv_t<T>, signed char> && !std::same_as<std::remove_cv_t<T>, unsigned char> &&
                        !std::same_as<std::remove_cv_t<T>, wchar_t> && !std::same_as<std::remove_cv_t<T>, char8_t> &&
                        !std::same_as<std::remove_cv_t<T>, char16_t> && !std::same_as<std::remove_cv_t<T>, char32_t>;

}  // namespace detail

template <class T>
class chan;

namespace detail {
template <class T>
hchan* chan_ptr(const chan<T>& c) noexcept;
}

// chan<T>: see docs/reference.md, "Channels". A shared handle to a channel.
template <class T>
class chan {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "goro::chan<T>: T's move constructor must be noexcept (values move under the channel's lock)");
  static_assert(std::is_object_v<T> && !std::is_array_v<T>, "goro::chan<T>: T must be an object type");

 public:
  using value_type = T;

  // An unbuffered channel (Go: make(chan T)).
  chan() : c_(detail::hchan::make(&detail::elem_ops_for<T>, 0)) {}

  // A channel with capacity cap: buffered when cap > 0 (Go: make(chan T, cap)).
  template <detail::chan_capacity I>
  explicit chan(I cap) {
    if (cap < 0) throw std::invalid_argument("goro::chan: negative capacity");
    c_ = detail::hchan::make(&detail::elem_ops_for<T>, static_cast<std::size_t>(cap));
  }

  // The nil channel.
  chan(std::nullptr_t) noexcept {}

  chan(const chan& o) noexcept : c_(o.c_) {
    if (c_ != nullptr) c_->retain();
  }
  chan(chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan& operator=(const chan& o) noexcept {
    chan(o).swap(*this);
    return *this;
  }
  chan& operator=(chan&& o) noexcept {
    chan(std::move(o)).swap(*this);
    return *this;
  }
  ~chan() {
    if (c_ != nullptr) c_->release();
  }
  void swap(chan& o) noexcept { std::swap(c_, o.c_); }

  explicit operator bool() const noexcept { return c_ != nullptr; }
  friend bool operator==(const chan& a, const chan& b) noexcept { return a.c_ == b.c_; }

  // send blocks until a receiver takes v (unbuffered) or there is room;
  // throws closed_channel if the channel is or becomes closed (v is then
  // destroyed with this call's parameter).
  // (The public operations are sysmon's preemption safe points; the runtime's
  // own uses of chansend/chanrecv, such as a timer firing under the timer
  // heap's lock, must never switch away, so the safe point is only here.)
  void send(T v) const {
    detail::rt_region rt;
    detail::safe_point();
    if (c_ == nullptr) detail::park_forever(detail::wait_reason::chan_send_nil);
    detail::race_release(c_);
    detail::chansend(c_, &v, true);
    detail::race_acquire(c_);
    detail::wake_point();
  }

  // recv blocks until a value arrives; std::nullopt once closed and drained.
  std::optional<T> recv() const {
    detail::rt_region rt;
    detail::safe_point();
    std::optional<T> out;
    if (c_ == nullptr) detail::park_forever(detail::wait_reason::chan_receive_nil);
    detail::race_release(c_);
    detail::chanrecv(c_, &out, true);
    detail::race_acquire(c_);
    detail::wake_point();
    return out;
  }

  // try_send sends only if it can without blocking; moves from v only then.
  // Throws closed_channel on a closed channel.
  bool try_send(T& v) const {
    detail::rt_region rt;
    detail::safe_point();
    if (c_ == nullptr) return false;
    detail::race_release(c_);
    bool sent = detail::chansend(c_, &v, false);
    detail::race_acquire(c_);
    detail::wake_point();
    return sent;
  }
  bool try_send(T&& v) const { return try_send(v); }

  // try_recv receives only if a value is ready now.
  std::optional<T> try_recv() const {
    detail::rt_region rt;
    detail::safe_point();
    std::optional<T> out;
    if (c_ != nullptr) {
      detail::race_release(c_);
      detail::chanrecv(c_, &out, false);
      detail::race_acquire(c_);
      detail::wake_point();
    }
    return out;
  }

  // close: throws closed_channel if already closed, std::logic_error if nil.
  void close() const {
    detail::rt_region rt;
    detail::sched_point(false);
    if (c_ == nullptr) throw std::logic_error("goro::chan: close of nil channel");
    detail::race_release(c_);
    detail::closechan(c_);
    detail::wake_point();
  }

  // relaxed: a snapshot (Go's len(c)); it orders nothing.
  std::size_t size() const noexcept { return c_ == nullptr ? 0 : c_->qcount.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return c_ == nullptr ? 0 : c_->dataqsiz; }

  // Range-for receives until the channel is closed and drained.
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(const chan* ch) : ch_(ch) { ++*this; }
    T&& operator*() { return std::move(*cur_); }  // `for (T v : ch)` moves: T may be move-only
    iterator& operator++() {
      cur_ = ch_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.cur_.has_value(); }

   private:
    const chan* ch_ = nullptr;
    std::optional<T> cur_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend detail::hchan* detail::chan_ptr<T>(const chan<T>&) noexcept;
  detail::hchan* c_ = nullptr;
};

namespace detail {
template <class T>
hchan* chan_ptr(const chan<T>& c) noexcept {
  return c.c_;
}
}  // namespace detail

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_CHAN_HPP
