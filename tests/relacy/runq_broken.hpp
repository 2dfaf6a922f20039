// tests/relacy/runq_broken.hpp — a deliberately broken copy of
// goro::detail::runq_ring (include/goro/runq.hpp), used only by the Relacy model
// tests/relacy/runq.cpp when it is built with -DGORO_RUNQ_BROKEN=1.
//
// What it breaks: the single change is in put(): the tail store that publishes
// slots[t] (and the G it points to) is relaxed instead of release. Everything
// else, put_slow, get, grab, steal, empty and size, is runq_ring's code verbatim.
//
// Why the model must fail: a thief's acquire load of tail then no longer
// synchronises with the owner's writes before put(), so the thief can read a
// stale (null) slot, or read the G's payload (an rl::var) with no happens-before
// edge from the owner's write. Relacy reports that as an assertion failure or a
// DATA RACE; the model's executable then exits non-zero. If a change to the
// model makes this variant pass, the model has lost its power to detect a
// missing release and must be fixed.
//
// Keep it in sync: when runq_ring changes, re-copy it here and reapply only
// the one-line bug (marked DELIBERATE BUG).
#ifndef GORO_TESTS_RELACY_RUNQ_BROKEN_HPP
#define GORO_TESTS_RELACY_RUNQ_BROKEN_HPP

#include <goro/config.hpp>

#include <atomic>
#include <cstdint>

namespace goro_broken {

template <template <class> class Atomic, class T, std::uint32_t N>
class broken_runq_ring {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "runq size must be a power of two");

 public:
  static constexpr std::uint32_t capacity = N;

  // put adds gp to the queue. With next, gp goes to runnext and the G it
  // displaces goes to the tail. Returns nullptr, or, when the ring is full, the
  // G that did not fit: the caller then moves half of the ring plus that G to
  // the global queue with put_slow. Owner P only.
  T* put(T* gp, bool next) noexcept {
    if (next) {
      // acq_rel: release publishes gp to thieves; acquire takes ownership of old.
      T* old = runnext_.exchange(gp, std::memory_order_acq_rel);
      if (old == nullptr) return nullptr;
      gp = old;
    }
    // acquire: see consumers' commits before reusing their slots (see header).
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);  // relaxed: only the owner writes tail
    if (t - h < N) {
      slots_[t % N].store(gp, std::memory_order_relaxed);
      // DELIBERATE BUG (the only difference from runq_ring): relaxed instead of
      // release, so a thief that acquire-loads tail does not synchronise with
      // the owner and may see the slot or the G's payload before they are written.
      tail_.store(t + 1, std::memory_order_relaxed);
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

  // grab takes half of the ring (rounded up) into batch, which must hold N/2,
  // and returns how many. With steal_runnext, an empty ring gives up its
  // runnext instead. Go: runqgrab. Any thief; never the owner.
  std::uint32_t grab(T** batch, bool steal_runnext) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // acquire: synchronize with other consumers
      std::uint32_t t = tail_.load(std::memory_order_acquire);  // acquire: synchronize with the producer
      std::uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) {
        if (steal_runnext) {
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
  T* steal(broken_runq_ring& victim, bool steal_runnext, std::uint32_t* stolen = nullptr) noexcept {
    T* batch[N / 2];
    std::uint32_t n = victim.grab(batch, steal_runnext);
    if (stolen != nullptr) *stolen = n;
    if (n == 0) return nullptr;
    T* gp = batch[--n];
    if (n == 0) return gp;
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h + n > N) ::goro::detail::fatal("runq_steal: runq overflow");
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
      T* next = runnext_.load(std::memory_order_acquire);
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

}  // namespace goro_broken

#endif  // GORO_TESTS_RELACY_RUNQ_BROKEN_HPP
