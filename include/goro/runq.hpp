// goro/runq.hpp — a P's local run queue: Go's lock-free bounded ring plus the
// runnext slot (proc.go: runqput, runqget, runqgrab, runqsteal).
//
// The ring has one producer, the owner P, which pushes at the tail; the owner
// and any number of thieves consume at the head with a CAS. runnext holds the
// goroutine readied most recently by the owner: it runs next (LIFO locality for
// the fork/join and ping-pong shapes) and inherits the time slice.
//
// Invariants:
//   head and tail are free-running 32-bit counters; 0 <= tail - head <= N.
//   Only the owner writes tail and slots[tail % N].
//   A consumer owns slots [h, h+n) only once its CAS head: h -> h+n succeeds.
//   A thief reads slots before its CAS; if the owner has since overwritten one
//   of them, head has moved, the CAS fails and the read values are discarded.
//   That read races with the owner's write by design, so slots are atomics
//   accessed relaxed; the CAS decides which reads count.
// Memory orders:
//   tail store: release, publishes slots[t] (and the G it points to); pairs with
//     the acquire load of tail in grab.
//   head CAS: release, "commits consume" (Go): a slot is reused by the owner only
//     after it has seen head pass it with an acquire load, so the consumer's read
//     of the slot happens before the owner's overwrite.
//   runnext: exchanged (seq_cst) by the owner and CASed by thieves, so the G it
//     points to is published with it; seq_cst also orders it before wakep's
//     loads (sched.hpp).
//
// The ring is a template over the atomic type so the Relacy model in
// tests/relacy/runq.cpp checks this very code (with N = 4, as tokio does for loom).
#ifndef GORO_DETAIL_RUNQ_HPP
#define GORO_DETAIL_RUNQ_HPP

#include "config.hpp"

#include <atomic>
#include <cstdint>

// Fault injection for the Relacy model's broken variant (tests/relacy/runq.cpp
// builds with it set to std::memory_order_relaxed, and must then fail). Never
// define it elsewhere.
#ifndef GORO_DETAIL_RUNQ_PUBLISH_ORDER
#define GORO_DETAIL_RUNQ_PUBLISH_ORDER std::memory_order_release
#endif

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

template <template <class> class Atomic, class T, std::uint32_t N>
class runq_ring {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "runq size must be a power of two");

 public:
  static constexpr std::uint32_t capacity = N;

  // put adds gp to the queue. With next, gp goes to runnext and the G it
  // displaces goes to the tail. Returns nullptr, or, when the ring is full, the
  // G that did not fit: the caller then moves half of the ring plus that G to
  // the global queue with put_slow. Owner P only.
  T* put(T* gp, bool next) noexcept {
    if (next) {
      // seq_cst (at least acq_rel: release publishes gp to thieves, acquire
      // takes ownership of old): also the #StoreLoad of the spinning-M
      // protocol for the G just queued (sched.hpp, wakep).
      T* old = runnext_.exchange(gp, std::memory_order_seq_cst);
      if (old == nullptr) return nullptr;
      gp = old;
    }
    // acquire: see consumers' commits before reusing their slots (see header).
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);  // relaxed: only the owner writes tail
    if (t - h < N) {
      slots_[t % N].store(gp, std::memory_order_relaxed);
      tail_.store(t + 1, GORO_DETAIL_RUNQ_PUBLISH_ORDER);  // release: publishes the slot; pairs with grab's acquire
      return nullptr;
    }
    return gp;
  }

  // put_slow takes half of the ring into batch (which must hold N/2 + 1) and
  // returns how many it took, or 0 if a thief got there first (then retry put).
  // Go: runqputslow. Owner P only.
  std::uint32_t put_slow(T** batch) noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = (t - h) / 2;
    if (n != N / 2) return 0;  // the ring is no longer full: a consumer took some
    for (std::uint32_t i = 0; i < n; ++i) batch[i] = slots_[(h + i) % N].load(std::memory_order_relaxed);
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed)) return 0;
    return n;
  }

  // get removes the next G: runnext first, then the head. inherit is set when it
  // came from runnext (it then shares the current time slice). Owner P only.
  T* get(bool* inherit = nullptr) noexcept {
    T* next = runnext_.load(std::memory_order_relaxed);
    if (next != nullptr && runnext_.compare_exchange_strong(next, nullptr, std::memory_order_acquire, std::memory_order_relaxed)) {
      if (inherit != nullptr) *inherit = true;
      return next;
    }
    if (inherit != nullptr) *inherit = false;
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // acquire: synchronize with other consumers
      std::uint32_t t = tail_.load(std::memory_order_relaxed);  // relaxed: only the owner writes tail
      if (t == h) return nullptr;
      T* gp = slots_[h % N].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release, std::memory_order_relaxed)) return gp;
    }
  }

  // peek returns the G at the head of the ring without taking it, or nullptr.
  // Only a hint, for prefetching: a thief may take it at any moment, and it
  // may be dead by the time the caller looks (relaxed loads: nothing is
  // published by a hint). Owner P only.
  T* peek() const noexcept {
    std::uint32_t h = head_.load(std::memory_order_relaxed);
    if (tail_.load(std::memory_order_relaxed) == h) return nullptr;
    return slots_[h % N].load(std::memory_order_relaxed);
  }

  // grab takes half of the ring (rounded up) into batch, which must hold N/2,
  // and returns how many. With steal_runnext, an empty ring gives up its
  // runnext instead, after calling before_runnext() (Go sleeps there for 3 us
  // when the victim is running: it is likely about to run that G itself, and
  // stealing it would bounce a ping-pong pair between Ms). Go: runqgrab. Any
  // thief; never the owner.
  std::uint32_t grab(T** batch, bool steal_runnext) noexcept {
    return grab(batch, steal_runnext, [] {});
  }
  template <class BeforeRunnext>
  std::uint32_t grab(T** batch, bool steal_runnext, BeforeRunnext&& before_runnext) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // acquire: synchronize with other consumers
      std::uint32_t t = tail_.load(std::memory_order_acquire);  // acquire: synchronize with the producer
      std::uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) {
        if (steal_runnext && runnext_.load(std::memory_order_relaxed) != nullptr) {
          before_runnext();
          T* next = runnext_.load(std::memory_order_acquire);
          if (next != nullptr && runnext_.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel, std::memory_order_relaxed)) {
            batch[0] = next;
            return 1;
          }
        }
        return 0;
      }
      if (n > N / 2) continue;  // h and t read at different times: inconsistent, retry
      for (std::uint32_t i = 0; i < n; ++i) batch[i] = slots_[(h + i) % N].load(std::memory_order_relaxed);
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed)) return n;
    }
  }

  // steal grabs half of victim's queue into this one and returns one of the
  // stolen Gs to run now (nullptr if there was nothing). Go: runqsteal. Owner P
  // of this queue only (stealing from another P's queue).
  T* steal(runq_ring& victim, bool steal_runnext, std::uint32_t* stolen = nullptr) noexcept {
    return steal(victim, steal_runnext, [] {}, stolen);
  }
  template <class BeforeRunnext>
  T* steal(runq_ring& victim, bool steal_runnext, BeforeRunnext&& before_runnext, std::uint32_t* stolen = nullptr) noexcept {
    T* batch[N / 2];
    std::uint32_t n = victim.grab(batch, steal_runnext, before_runnext);
    if (stolen != nullptr) *stolen = n;
    if (n == 0) return nullptr;
    T* gp = batch[--n];
    if (n == 0) return gp;
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h + n > N) fatal("runq_steal: runq overflow");
    for (std::uint32_t i = 0; i < n; ++i) slots_[(t + i) % N].store(batch[i], std::memory_order_relaxed);
    tail_.store(t + n, std::memory_order_release);  // release: publishes the stolen slots
    return gp;
  }

  // empty reports whether the queue has nothing, runnext included, reading a
  // consistent snapshot (Go: runqempty). Any M.
  bool empty() const noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      T* next = runnext_.load(std::memory_order_seq_cst);  // seq_cst: pairs with put's exchange (wakep)
      if (tail_.load(std::memory_order_acquire) == t) return h == t && next == nullptr;
    }
  }

  // size is a racy estimate for diagnostics (schedtrace, dumps). Any M.
  std::uint32_t size() const noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_acquire);
    std::uint32_t n = t - h;
    if (n > N) n = 0;
    return n + (runnext_.load(std::memory_order_relaxed) != nullptr ? 1 : 0);
  }

 private:
  alignas(64) Atomic<std::uint32_t> head_{0};  // consumers CAS it
  alignas(64) Atomic<std::uint32_t> tail_{0};  // owner only writes it
  Atomic<T*> runnext_{nullptr};
  Atomic<T*> slots_[N]{};
};

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_RUNQ_HPP
