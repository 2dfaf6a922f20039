// goro/sync.hpp — Go's sync package on goro's semaphores (sema.hpp):
// mutex (sync/mutex.go), shared_mutex (sync/rwmutex.go), condition_variable
// (sync/cond.go with runtime's notifyList), once_flag / call_once
// (sync/once.go, with std semantics for exceptions) and wait_group
// (sync/waitgroup.go). All of them park goroutines; from a plain OS thread
// they block the thread.
#ifndef GORO_DETAIL_SYNC_HPP
#define GORO_DETAIL_SYNC_HPP

#include "config.hpp"
#include "park.hpp"
#include "sema.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>

// Fault injection for the Relacy models' broken variants (tests/relacy/mutex.cpp,
// rwmutex.cpp and wait_group.cpp each build with its own hook set to
// std::memory_order_relaxed, and must then fail). Never define them elsewhere.
#ifndef GORO_DETAIL_MUTEX_UNLOCK_ORDER
#define GORO_DETAIL_MUTEX_UNLOCK_ORDER std::memory_order_release
#endif
#ifndef GORO_DETAIL_RWMUTEX_RUNLOCK_ORDER
#define GORO_DETAIL_RWMUTEX_RUNLOCK_ORDER std::memory_order_release
#endif
#ifndef GORO_DETAIL_WG_DONE_ORDER
#define GORO_DETAIL_WG_DONE_ORDER std::memory_order_acq_rel
#endif

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// runtime_sync: what the sync types need from the runtime. The types are
// templates over it so that the Relacy models in tests/relacy/ check this
// very code with Relacy's atomics and a modelled semaphore.
struct runtime_sync {
  template <class T>
  using atomic = std::atomic<T>;
  using sema_t = std::atomic<std::uint32_t>;
  static void semacquire(sema_t* s, wait_reason why, bool lifo = false, wait_desc desc = {}) { detail::semacquire(s, why, lifo, desc); }
  static void semrelease(sema_t* s, bool handoff = false) { detail::semrelease(s, handoff); }
  static std::int64_t nanotime() noexcept { return detail::nanotime(); }
  static bool can_spin(int iter) noexcept { return sync_can_spin(iter); }
  static void spin() noexcept { sync_spin(); }
  [[noreturn]] static void misuse(const char* msg) noexcept { sync_fatal(msg); }  // Go's fatal: unrecoverable
  [[noreturn]] static void broken(const char* msg) noexcept { fatal(msg); }       // a broken invariant
  // parking_forbidden: the caller may not park (a goroutine inside
  // blocking<>): a call that would park must throw (cannot_park) before it
  // changes any state, so that the misuse loses nothing (docs/reference.md, "Blocking system calls").
  static bool parking_forbidden() noexcept { return in_blocking(); }
  [[noreturn]] static void cannot_park() { throw_if_blocking(); fatal("cannot_park: not inside blocking<>"); }
};

// mutex_impl: Go's sync.Mutex. A Lockable (std::lock_guard, std::unique_lock,
// std::scoped_lock work).
//
// The state word: bit 0 locked, bit 1 woken (an unparked waiter is competing,
// so unlock need not wake another), bit 2 starving, bits 3.. the number of
// parked waiters. Two modes, as Go's mutex.go explains at length:
//   normal: waiters queue FIFO, but a woken waiter competes with goroutines
//     arriving just now (which are on a CPU already and usually win); it
//     spins a little before parking.
//   starvation: entered when a waiter has waited over 1 ms; unlock hands the
//     mutex straight to the first waiter (semrelease with handoff) and newcomers
//     queue at the tail without trying. Left when the last waiter takes it, or
//     one that waited under 1 ms.
template <class P>
class mutex_impl {
 public:
  mutex_impl() = default;
  mutex_impl(const mutex_impl&) = delete;
  mutex_impl& operator=(const mutex_impl&) = delete;

  // lock: desc says what a parked caller waits on (dumps; only the slow path
  // passes it on).
  void lock(wait_desc desc = {}) {
    std::int32_t old = 0;
    // acquire: pairs with the release in unlock.
    if (GORO_DETAIL_LIKELY(state_.compare_exchange_strong(old, locked_bit, std::memory_order_acquire, std::memory_order_relaxed)))
      return;
    // Unlocked, not starving, but with waiters counted (the usual state of a
    // contended mutex: parked waiters stay counted while the running
    // goroutines trade the lock): take it with the transition lock_slow's
    // first CAS would make (set locked, nothing else), without the call. The
    // failed CAS above gave us the current state. (Go always calls lockSlow
    // here; measured on the mutex benchmark: 98% of the locks took this path.)
    if ((old & (locked_bit | starving_bit)) == 0 &&
        state_.compare_exchange_strong(old, old | locked_bit, std::memory_order_acquire, std::memory_order_relaxed))
      return;
    lock_slow(desc);
  }

  bool try_lock() noexcept {
    std::int32_t old = state_.load(std::memory_order_relaxed);
    if ((old & (locked_bit | starving_bit)) != 0) return false;
    return state_.compare_exchange_strong(old, old | locked_bit, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() {
    // release: publishes the critical section to the next owner.
    std::int32_t next = state_.fetch_sub(locked_bit, GORO_DETAIL_MUTEX_UNLOCK_ORDER) - locked_bit;
    // Done if nobody waits, or if a woken waiter is already on its way (not
    // starving; locked_bit in next would mean "was unlocked": unlock_slow's
    // misuse check): exactly where unlock_slow would return at once, without
    // the call (the usual case under contention, as in lock).
    if (GORO_DETAIL_LIKELY(next == 0) || (next & (locked_bit | woken_bit | starving_bit)) == woken_bit) return;
    unlock_slow(next);
  }

  // is_locked: for dumps (relaxed: a snapshot).
  bool is_locked() const noexcept { return (state_.load(std::memory_order_relaxed) & locked_bit) != 0; }

 private:
  static constexpr std::int32_t locked_bit = 1;
  static constexpr std::int32_t woken_bit = 2;
  static constexpr std::int32_t starving_bit = 4;
  static constexpr int waiter_shift = 3;
  static constexpr std::int64_t starvation_threshold_ns = 1'000'000;  // Go: starvationThresholdNs

  GORO_DETAIL_NOINLINE void lock_slow(wait_desc desc) {
    if (GORO_DETAIL_UNLIKELY(P::parking_forbidden())) {
      // Inside blocking<>: no spinning and no parking, so the lock is taken
      // now or never; the waiter count is never touched (see cannot_park).
      if (try_lock()) return;
      P::cannot_park();
    }
    std::int64_t wait_start = 0;
    bool starving = false;
    bool awoke = false;
    int iter = 0;
    std::int32_t old = state_.load(std::memory_order_relaxed);
    for (;;) {
      // Spin while locked in normal mode, if spinning can pay off.
      if ((old & (locked_bit | starving_bit)) == locked_bit && P::can_spin(iter)) {
        // Tell unlock not to wake another waiter while we are awake.
        if (!awoke && (old & woken_bit) == 0 && (old >> waiter_shift) != 0 &&
            state_.compare_exchange_strong(old, old | woken_bit, std::memory_order_relaxed))
          awoke = true;
        P::spin();
        ++iter;
        old = state_.load(std::memory_order_relaxed);
        continue;
      }
      std::int32_t next = old;
      if ((old & starving_bit) == 0) next |= locked_bit;  // don't grab a starving mutex: it is handed off
      if ((old & (locked_bit | starving_bit)) != 0) next += 1 << waiter_shift;
      if (starving && (old & locked_bit) != 0) next |= starving_bit;
      if (awoke) {
        if ((next & woken_bit) == 0) P::broken("sync: inconsistent mutex state");
        next &= ~woken_bit;
      }
      if (state_.compare_exchange_strong(old, next, std::memory_order_acquire, std::memory_order_relaxed)) {
        if ((old & (locked_bit | starving_bit)) == 0) return;  // locked it with the CAS
        bool lifo = wait_start != 0;                           // waited before: back to the head of the queue
        if (wait_start == 0) wait_start = P::nanotime();
        P::semacquire(&sema_, wait_reason::sync_mutex_lock, lifo, desc);
        starving = starving || P::nanotime() - wait_start > starvation_threshold_ns;
        old = state_.load(std::memory_order_acquire);
        if ((old & starving_bit) != 0) {
          // Handed off in starvation mode: we own it; fix up the state.
          if ((old & (locked_bit | woken_bit)) != 0 || (old >> waiter_shift) == 0)
            P::broken("sync: inconsistent mutex state");
          std::int32_t delta = locked_bit - (1 << waiter_shift);
          if (!starving || (old >> waiter_shift) == 1) delta -= starving_bit;  // leave starvation mode
          state_.fetch_add(delta, std::memory_order_acquire);
          return;
        }
        awoke = true;
        iter = 0;
      }
    }
  }

  GORO_DETAIL_NOINLINE void unlock_slow(std::int32_t next) {
    if (((next + locked_bit) & locked_bit) == 0) {
      state_.fetch_add(locked_bit, std::memory_order_relaxed);  // undo, for the record; the process ends
      P::misuse("sync: unlock of unlocked mutex");
    }
    if ((next & starving_bit) == 0) {
      std::int32_t old = next;
      for (;;) {
        // Nobody to wake, or someone already woken / locked it / starving.
        if ((old >> waiter_shift) == 0 || (old & (locked_bit | woken_bit | starving_bit)) != 0) return;
        std::int32_t n = (old - (1 << waiter_shift)) | woken_bit;
        if (state_.compare_exchange_strong(old, n, std::memory_order_release, std::memory_order_relaxed)) {
          P::semrelease(&sema_, false);
          return;
        }
      }
    }
    P::semrelease(&sema_, true);  // starvation: hand off to the first waiter
  }

  typename P::template atomic<std::int32_t> state_{0};
  typename P::sema_t sema_{0};
};

// rwmutex_impl: Go's sync.RWMutex. A waiting writer blocks new readers, so
// readers cannot starve a writer.
//
// reader_count counts readers in; a writer subtracts max_readers from it, which
// makes it negative (new readers then park on reader_sem) and tells it how
// many readers are still in: those it waits for through reader_wait.
template <class P>
class rwmutex_impl {
 public:
  rwmutex_impl() = default;
  rwmutex_impl(const rwmutex_impl&) = delete;
  rwmutex_impl& operator=(const rwmutex_impl&) = delete;

  void lock_shared(wait_desc desc = {}) {
    if (GORO_DETAIL_UNLIKELY(P::parking_forbidden())) {  // no park allowed: take it now, or throw unchanged
      if (try_lock_shared()) return;
      P::cannot_park();
    }
    if (reader_count_.fetch_add(1, std::memory_order_acquire) + 1 < 0)
      P::semacquire(&reader_sem_, wait_reason::sync_rwmutex_rlock, false, desc);  // a writer is pending
  }

  bool try_lock_shared() noexcept {
    std::int32_t c = reader_count_.load(std::memory_order_relaxed);
    for (;;) {
      if (c < 0) return false;
      if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    }
  }

  void unlock_shared() {
    std::int32_t r = reader_count_.fetch_sub(1, GORO_DETAIL_RWMUTEX_RUNLOCK_ORDER) - 1;
    if (r < 0) unlock_shared_slow(r);
  }

  void lock(wait_desc desc = {}) {
    if (GORO_DETAIL_UNLIKELY(P::parking_forbidden())) {  // no park allowed: take it now, or throw unchanged
      if (try_lock()) return;
      P::cannot_park();
    }
    w_.lock(desc);  // exclude other writers
    // Announce the pending writer to readers.
    std::int32_t r = reader_count_.fetch_sub(max_readers, std::memory_order_acq_rel);
    // Wait for the active readers.
    if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0)
      P::semacquire(&writer_sem_, wait_reason::sync_rwmutex_lock, false, desc);
  }

  bool try_lock() {
    if (!w_.try_lock()) return false;
    std::int32_t zero = 0;
    if (!reader_count_.compare_exchange_strong(zero, -max_readers, std::memory_order_acquire, std::memory_order_relaxed)) {
      w_.unlock();
      return false;
    }
    return true;
  }

  void unlock() {
    // Announce to readers there is no active writer.
    std::int32_t r = reader_count_.fetch_add(max_readers, std::memory_order_release) + max_readers;
    if (r >= max_readers) {
      reader_count_.fetch_sub(max_readers, std::memory_order_relaxed);
      P::misuse("sync: Unlock of unlocked RWMutex");
    }
    for (std::int32_t i = 0; i < r; ++i) P::semrelease(&reader_sem_, false);  // unblock the parked readers
    w_.unlock();
  }

  // readers_in: the readers holding it now, for dumps (a snapshot).
  std::int32_t readers_in() const noexcept {
    std::int32_t r = reader_count_.load(std::memory_order_relaxed);
    return r >= 0 ? r : reader_wait_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::int32_t max_readers = 1 << 30;  // Go: rwmutexMaxReaders

  GORO_DETAIL_NOINLINE void unlock_shared_slow(std::int32_t r) {
    if (r + 1 == 0 || r + 1 == -max_readers) {
      reader_count_.fetch_add(1, std::memory_order_relaxed);
      P::misuse("sync: RUnlock of unlocked RWMutex");
    }
    // A writer is pending: the last departing reader wakes it.
    if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) P::semrelease(&writer_sem_, false);
  }

  mutex_impl<P> w_;                                            // held by a pending or active writer
  typename P::sema_t writer_sem_{0};                           // the writer waits here for readers to leave
  typename P::sema_t reader_sem_{0};                           // readers wait here for the writer to leave
  typename P::template atomic<std::int32_t> reader_count_{0};
  typename P::template atomic<std::int32_t> reader_wait_{0};  // readers a pending writer still waits for
};

// lock_holder: who holds a mutex (or a shared_mutex's write side), for
// dumps ("held by goroutine 3") and deadlock cycles (docs/design.md, "Where
// each goroutine waits"). holder_: the goroutine holding it (0: unlocked, or
// held by a plain thread); written by the holder (relaxed: dumps read a
// snapshot; the lock's own acquire/release orders one holder's stores before
// the next's). With lock sites on (deterministic mode, or tracebacks on) the
// holder also records where it locked (held_push).
class lock_holder {
 protected:
  // held_by: after a successful lock by goroutine me (read before the lock:
  // no TLS read after a park, see current_goid).
  void held_by(std::uint64_t me, const void* mu) noexcept {
    holder_.store(me, std::memory_order_relaxed);
    if (GORO_DETAIL_UNLIKELY(lock_sites_on())) held_push(mu);
  }
  // releasing: before the unlock's release, so the next holder's store comes after.
  void releasing(const void* mu) noexcept {
    holder_.store(0, std::memory_order_relaxed);
    if (GORO_DETAIL_UNLIKELY(lock_sites_on())) held_pop(mu);
  }
  std::uint64_t holder() const noexcept { return holder_.load(std::memory_order_relaxed); }
  // append_held_by: ", held by goroutine <h>" and, when known, where it locked mu.
  static void append_held_by(std::string& out, std::uint64_t h, const void* mu, const dump_ctx* ctx) {
    out += ", held by goroutine ";
    out += std::to_string(h);
    append_lock_site(out, h, mu, ctx);
  }

 private:
  std::atomic<std::uint64_t> holder_{0};
};

}  // namespace detail

// mutex: Go's sync.Mutex (see mutex_impl). A Lockable: std::lock_guard,
// std::unique_lock and std::scoped_lock work.
// The public operations add, around mutex_impl's, deterministic mode's
// scheduling points and the race detector's edges (an unlock happens before the
// next lock returns; see sync_acquire in park.hpp); both compile to nothing in
// threaded mode.
// Every successful lock records its holder (detail::lock_holder).
class mutex : public detail::mutex_impl<detail::runtime_sync>, detail::lock_holder {
  using impl = detail::mutex_impl<detail::runtime_sync>;

 public:
  void lock() {
    std::uint64_t me = detail::current_goid();
    detail::sync_acquire([this] { impl::lock(detail::wait_desc{this, &describe}); }, this);
    held_by(me, this);
  }
  bool try_lock() noexcept {
    std::uint64_t me = detail::current_goid();
    if (!detail::sync_try_acquire([this] { return impl::try_lock(); }, this)) return false;
    held_by(me, this);
    return true;
  }
  void unlock() { release<true>(); }

 private:
  friend class condition_variable;
  // release: unlock's body. wake = false: condition_variable::wait's
  // release, without the point after it (the wait parks right after, which
  // is a point already).
  template <bool wake>
  void release() {
    detail::sync_release<wake>(this, [this] {
      releasing(this);
      impl::unlock();
    });
  }

  // describe: the describe_fn of a goroutine parked in lock().
  static std::uint64_t describe(const void* obj, std::string* out, const detail::dump_ctx* ctx) {
    const mutex* mu = static_cast<const mutex*>(obj);
    std::uint64_t h = mu->holder();
    if (out != nullptr) {
      *out += "mutex";
      detail::append_addr(*out, mu);
      if (h != 0) {
        append_held_by(*out, h, mu, ctx);
      } else if (mu->is_locked()) {
        *out += ", held by a thread that is not a goroutine";
      }
    }
    return h;
  }
};

// shared_mutex: Go's sync.RWMutex (see rwmutex_impl). Also SharedLockable:
// std::shared_lock works.
// Race detector edges as Go's: an Unlock happens before the next RLock or Lock
// returns; an RUnlock before the next Lock (on a second address).
class shared_mutex : public detail::rwmutex_impl<detail::runtime_sync>, detail::lock_holder {
  using impl = detail::rwmutex_impl<detail::runtime_sync>;
  const void* readers() const noexcept { return reinterpret_cast<const char*>(this) + 1; }

 public:
  // The writer's holder is kept as mutex's is (see mutex).
  void lock() {
    std::uint64_t me = detail::current_goid();
    detail::sync_acquire([this] { impl::lock(detail::wait_desc{this, &describe}); }, this, readers());
    held_by(me, this);
  }
  bool try_lock() {
    std::uint64_t me = detail::current_goid();
    if (!detail::sync_try_acquire([this] { return impl::try_lock(); }, this, readers())) return false;
    held_by(me, this);
    return true;
  }
  void unlock() {
    detail::sync_release(this, [this] {
      releasing(this);
      impl::unlock();
    });
  }
  void lock_shared() {
    detail::sync_acquire([this] { impl::lock_shared(detail::wait_desc{this, &describe}); }, this);
  }
  bool try_lock_shared() noexcept {
    return detail::sync_try_acquire([this] { return impl::try_lock_shared(); }, this);
  }
  void unlock_shared() {
    detail::sync_release(readers(), [this] { impl::unlock_shared(); });
  }

 private:
  // describe: the describe_fn of a goroutine parked in lock() or lock_shared().
  static std::uint64_t describe(const void* obj, std::string* out, const detail::dump_ctx* ctx) {
    const shared_mutex* mu = static_cast<const shared_mutex*>(obj);
    std::uint64_t h = mu->holder();
    if (out != nullptr) {
      *out += "shared_mutex";
      detail::append_addr(*out, mu);
      if (h != 0) {
        append_held_by(*out, h, mu, ctx);
      } else if (std::int32_t r = mu->readers_in(); r > 0) {
        *out += ", held by ";
        *out += std::to_string(r);
        *out += r == 1 ? " reader" : " readers";
      }
    }
    return h;
  }
};

namespace detail {

// notify_list: the waiters of a condition_variable, with tickets (Go:
// runtime's notifyList). add() takes a ticket before the caller unlocks its
// mutex; wait(t) parks unless ticket t was already notified. So a notify
// between the unlock and the park is never lost, and notify_one wakes the
// oldest ticket.
//
// Timed waits. Two rules on top of Go's list, which has no timeouts:
//   1. The timeout timer (on the waiter's stack) is armed before the waiter
//      takes lock_ and queues itself, by the waiter while it runs. Arming it
//      after the switch away (in park's unlock step, after lock_ is released)
//      would let a notifier dequeue and ready the waiter, which could return
//      and free its frame before the timer was armed on it. It cannot be armed
//      under lock_ either: the firing path holds the timers lock and then
//      takes lock_ (timers lock -> lock_ is the only order). A timer that
//      fires before the waiter is queued only marks it timed_out.
//   2. A ticket given up by a timed-out (or unwound) waiter is "abandoned":
//      notify_one skips it, as if that waiter had never waited, so a notify
//      is never spent on nobody. abandoned_ holds such tickets that are still
//      ahead of notify_; invariant: it never holds notify_ itself (a ticket
//      abandoned when it is next in line just advances notify_).
// Who readies a queued waiter: whoever unlinks it under lock_ (a notifier,
// its timer, or the shutdown unwinder), exactly once. After waking, the
// waiter deletes its timer: timer_del returns only once the timer's f has
// finished, so f never touches a dead frame.
class notify_list {
 public:
  std::uint32_t add() noexcept { return wait_.fetch_add(1, std::memory_order_acq_rel); }

  // wait parks until ticket t is notified, or until deadline (a nanotime()
  // value; no_timer: none) passes. Returns false on timeout.
  bool wait(std::uint32_t t, std::int64_t deadline = no_timer) {
    throw_if_blocking();
    plain_call_scope scope;
    waiter w;
    w.gp = getg();
    w.ticket = t;
    w.list = this;
    const bool timed = deadline != no_timer;
    if (timed && deadline <= nanotime()) {  // already past: no timer, no park
      rt_lock_guard lk(lock_);
      if (notified_locked(t)) return true;
      abandon_locked(t);
      return false;
    }
    if (timed && !w.gp->is_thread) {
      // Rule 1 above: armed before queueing.
      w.timeout.when = deadline;
      w.timeout.arg = &w;
      w.timeout.f = &timeout_fired;
      timer_add(w.gp->sched, &w.timeout);
    }
    lock_.lock();
    if (notified_locked(t) || w.state == wstate::timed_out) {
      bool ok = notified_locked(t);  // a notify wins over a timeout that raced with it
      if (!ok) abandon_locked(t);
      lock_.unlock();
      if (timed && !w.gp->is_thread) timer_del(w.gp->sched, &w.timeout);  // waits for a running f
      return ok;
    }
    w.state = wstate::queued;
    if (tail_ != nullptr) tail_->next = &w;
    else head_ = &w;
    tail_ = &w;
    if (timed && w.gp->is_thread) {
      // A plain thread: sleep on its note with a timeout instead of a timer.
      g* gp = w.gp;
      gp->thread_note.clear();
      plain_threads_in_goro.fetch_add(1, std::memory_order_seq_cst);
      lock_.unlock();
      std::int64_t left = deadline - nanotime();
      bool woken = left > 0 && gp->thread_note.sleep_for(left);
      plain_threads_in_goro.fetch_sub(1, std::memory_order_seq_cst);
      if (woken) return true;
      rt_lock_guard lk(lock_);
      if (w.state != wstate::queued) return true;  // notified just now: its ready() has woken the note
      unlink_waiter(&w);
      abandon_locked(t);
      return false;
    }
    park(
        wait_reason::sync_cond_wait, [](g*, void* l) noexcept { static_cast<notify_list*>(l)->lock_.unlock(); return true; }, this,
        park_opts{&cancel_waiter, &w, this, &describe});
    if (timed) timer_del(w.gp->sched, &w.timeout);  // woken by a notify: its f must not run on this frame later
    return w.state != wstate::timed_out;
  }

  // describe: the describe_fn of a goroutine parked in wait() (the list is
  // its condition variable's first member: the same address).
  static std::uint64_t describe(const void* obj, std::string* out, const dump_ctx*) {
    if (out != nullptr) {
      *out += "condition_variable";
      append_addr(*out, obj);
    }
    return 0;
  }

  void notify_all() {
    if (wait_.load(std::memory_order_acquire) == notify_.load(std::memory_order_relaxed)) return;  // fast path: no new waiters
    plain_call_scope scope;
    waiter* list;
    {
      rt_lock_guard lk(lock_);
      list = head_;
      head_ = tail_ = nullptr;
      notify_.store(wait_.load(std::memory_order_acquire), std::memory_order_relaxed);
      abandoned_.clear();  // every abandoned ticket is behind the new notify_
      for (waiter* x = list; x != nullptr; x = x->next) x->state = wstate::notified;
    }
    while (list != nullptr) {
      waiter* next = list->next;  // read before ready: the waiter's frame may go away after
      ready(list->gp);
      list = next;
    }
  }

  void notify_one() {
    if (wait_.load(std::memory_order_acquire) == notify_.load(std::memory_order_relaxed)) return;
    plain_call_scope scope;
    g* wake = nullptr;
    {
      rt_lock_guard lk(lock_);
      std::uint32_t t = notify_.load(std::memory_order_relaxed);
      if (t == wait_.load(std::memory_order_acquire)) return;
      // t is not abandoned (the invariant of rule 2): it goes to a waiter.
      notify_.store(t + 1, std::memory_order_relaxed);
      skip_abandoned_locked();
      // The waiter with ticket t may not have queued yet: then its wait(t)
      // will see it was notified and not park.
      for (waiter *prev = nullptr, *x = head_; x != nullptr; prev = x, x = x->next) {
        if (x->ticket != t) continue;
        unlink(prev, x);
        x->state = wstate::notified;
        wake = x->gp;
        break;
      }
    }
    if (wake != nullptr) ready(wake);
  }

 private:
  enum class wstate : std::uint8_t { idle, queued, notified, timed_out };
  struct waiter {
    g* gp = nullptr;
    notify_list* list = nullptr;
    std::uint32_t ticket = 0;
    waiter* next = nullptr;
    wstate state = wstate::idle;  // guarded by list->lock_
    rtimer timeout;               // wait with a deadline only
  };

  // timeout_fired: the timeout timer's f; runs under the timers lock, takes
  // lock_ (the order of rule 1).
  static void timeout_fired(rtimer* t, std::int64_t) noexcept {
    auto* x = static_cast<waiter*>(t->arg);
    notify_list* nl = x->list;
    g* wake = nullptr;
    {
      rt_lock_guard lk(nl->lock_);
      if (x->state == wstate::notified) return;  // a notify came first
      if (x->state == wstate::queued) {
        nl->unlink_waiter(x);
        nl->abandon_locked(x->ticket);
        wake = x->gp;
      }
      // idle: not queued yet; wait() sees timed_out and gives up its ticket.
      x->state = wstate::timed_out;
    }
    if (wake != nullptr) ready(wake);
  }

  // cancel_waiter: the shutdown unwinder's cancel_fn (run.hpp, "Unwinding at shutdown").
  static bool cancel_waiter(g* gp, void* wp) noexcept {
    auto* x = static_cast<waiter*>(wp);
    notify_list* nl = x->list;
    {
      rt_lock_guard lk(nl->lock_);
      if (x->state != wstate::queued) return false;
      nl->unlink_waiter(x);
      nl->abandon_locked(x->ticket);
      x->state = wstate::timed_out;
    }
    timer_del(gp->sched, &x->timeout);
    return true;
  }

  // notified_locked: has ticket t been notified? Requires lock_.
  bool notified_locked(std::uint32_t t) const noexcept { return less(t, notify_.load(std::memory_order_relaxed)); }

  // abandon_locked gives up ticket t (its waiter timed out or was unwound
  // without being notified): rule 2 above. Requires lock_.
  void abandon_locked(std::uint32_t t) {
    std::uint32_t n = notify_.load(std::memory_order_relaxed);
    if (less(t, n)) return;  // already notified: nothing to give back
    if (t == n) {
      notify_.store(t + 1, std::memory_order_relaxed);
      skip_abandoned_locked();
      return;
    }
    // Keep abandoned_ sorted by distance from notify_ (tickets wrap around).
    auto pos = abandoned_.end();
    while (pos != abandoned_.begin() && less(t, *(pos - 1))) --pos;
    abandoned_.insert(pos, t);
  }

  // skip_abandoned_locked advances notify_ past abandoned tickets at its
  // head, restoring rule 2's invariant. Requires lock_.
  void skip_abandoned_locked() noexcept {
    std::uint32_t n = notify_.load(std::memory_order_relaxed);
    while (!abandoned_.empty() && abandoned_.front() == n) {
      abandoned_.pop_front();
      ++n;
    }
    notify_.store(n, std::memory_order_relaxed);
  }

  void unlink_waiter(waiter* x) noexcept {  // requires lock_
    waiter* prev = nullptr;
    for (waiter* y = head_; y != nullptr && y != x; y = y->next) prev = y;
    unlink(prev, x);
  }

  static bool less(std::uint32_t a, std::uint32_t b) noexcept { return static_cast<std::int32_t>(a - b) < 0; }

  void unlink(waiter* prev, waiter* x) noexcept {  // requires lock_
    if (prev != nullptr) prev->next = x->next;
    else head_ = x->next;
    if (tail_ == x) tail_ = prev;
    x->next = nullptr;
  }

  std::atomic<std::uint32_t> wait_{0};    // next ticket
  std::atomic<std::uint32_t> notify_{0};  // next ticket to notify; written under lock_
  rt_mutex lock_;
  waiter* head_ = nullptr;  // lock_
  waiter* tail_ = nullptr;  // lock_
  std::deque<std::uint32_t> abandoned_;  // lock_: rule 2; sorted, all ahead of notify_
};

}  // namespace detail

// condition_variable: waits with std::unique_lock<goro::mutex> (Go: sync.Cond).
class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  // wait unlocks lk, parks until notified, and locks lk again before it
  // returns or throws (goroutine_exit included). Spurious wake-ups are
  // allowed, as with std::condition_variable: wait in a loop, or use the
  // predicate form.
  void wait(std::unique_lock<mutex>& lk) {
    detail::rt_region rt;
    detail::throw_if_blocking();  // before the ticket and the unlock: a misuse changes nothing
    detail::sched_point();
    std::uint32_t t = list_.add();
    unlock_before_park(lk);
    relock r{lk};
    list_.wait(t);
    detail::race_acquire(this);
  }

  template <class Pred>
  void wait(std::unique_lock<mutex>& lk, Pred pred) {
    while (!pred()) wait(lk);
  }

  // wait_until / wait_for: as wait, but give up at the deadline (a goro::clock
  // time point of any duration type): std::cv_status::timeout. The mutex is
  // held again either way. Deadlines and durations saturate (park.hpp,
  // deadline_ns and to_ns): time_point::max() and hours::max() wait "forever".
  template <class Dur>
  std::cv_status wait_until(std::unique_lock<mutex>& lk, std::chrono::time_point<clock, Dur> deadline) {
    return wait_ns(lk, detail::deadline_ns(deadline));
  }
  template <class Dur, class Pred>
  bool wait_until(std::unique_lock<mutex>& lk, std::chrono::time_point<clock, Dur> deadline, Pred pred) {
    std::int64_t dl = detail::deadline_ns(deadline);
    while (!pred())
      if (wait_ns(lk, dl) == std::cv_status::timeout) return pred();
    return true;
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lk, std::chrono::duration<Rep, Period> d) {
    return wait_ns(lk, detail::when_after(detail::to_ns(d)));
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<mutex>& lk, std::chrono::duration<Rep, Period> d, Pred pred) {
    std::int64_t deadline = detail::when_after(detail::to_ns(d));
    while (!pred())
      if (wait_ns(lk, deadline) == std::cv_status::timeout) return pred();
    return true;
  }

  void notify_one() {
    detail::sync_release(this, [this] { list_.notify_one(); });
  }
  void notify_all() {
    detail::sync_release(this, [this] { list_.notify_all(); });
  }

 private:
  // wait_ns: wait_until with a nanotime() deadline.
  std::cv_status wait_ns(std::unique_lock<mutex>& lk, std::int64_t deadline) {
    detail::rt_region rt;
    detail::throw_if_blocking();  // before the ticket and the unlock: a misuse changes nothing
    detail::sched_point();
    std::uint32_t t = list_.add();
    unlock_before_park(lk);
    relock r{lk};
    bool notified = list_.wait(t, deadline);
    detail::race_acquire(this);
    return notified ? std::cv_status::no_timeout : std::cv_status::timeout;
  }

  // unlock_before_park: lk.unlock() without the point after the release.
  static void unlock_before_park(std::unique_lock<mutex>& lk) {
    mutex* mu = lk.release();
    mu->release<false>();
    lk = std::unique_lock<mutex>(*mu, std::defer_lock);
  }

  // relock locks lk again when a wait ends, returning or throwing
  // (docs/reference.md, "Sync"):
  // the mutex is held again even when goroutine_exit comes out of this very
  // lock (the unwinder cancelled its park): lock again, then let it go on.
  struct relock {
    std::unique_lock<mutex>& lk;
    ~relock() noexcept(false) {
      try {
        lk.lock();
      } catch (goroutine_exit&) {
        lk.lock();
        throw;
      }
    }
  };

  detail::notify_list list_;
};

// once_flag / call_once: std semantics on goro's mutex (Go: sync.Once; an
// exception from f leaves the flag not done, so the next call runs f again,
// where Go counts a panicking f as done).
struct once_flag {
  once_flag() = default;
  once_flag(const once_flag&) = delete;
  once_flag& operator=(const once_flag&) = delete;

 private:
  template <class F, class... A>
  friend void call_once(once_flag&, F&&, A&&...);
  std::atomic<std::uint32_t> done_{0};
  mutex m_;
};

template <class F, class... A>
void call_once(once_flag& flag, F&& f, A&&... args) {
  detail::sched_point();
  // acquire: pairs with the release below, so f's effects are visible.
  if (GORO_DETAIL_LIKELY(flag.done_.load(std::memory_order_acquire) != 0)) {
    detail::race_acquire(&flag);
    return;
  }
  std::lock_guard<mutex> lk(flag.m_);
  if (flag.done_.load(std::memory_order_relaxed) != 0) {
    detail::race_acquire(&flag);
    return;
  }
  std::invoke(std::forward<F>(f), std::forward<A>(args)...);
  detail::race_release(&flag);
  flag.done_.store(1, std::memory_order_release);
}

namespace detail {

// wait_group_impl: Go's sync.WaitGroup without Go(). The state word packs the
// counter (high 32 bits) and the number of waiters (low 32 bits), so that add
// can tell with one load whether the counter reached zero with waiters to
// release. Invariant: waiters are only added while the counter is > 0; when it
// reaches 0, the adder that took it there resets the word to 0 and releases
// exactly that many waiters on sema_.
template <class P>
class wait_group_impl {
 public:
  wait_group_impl() = default;
  wait_group_impl(const wait_group_impl&) = delete;
  wait_group_impl& operator=(const wait_group_impl&) = delete;

  // add adds n (possibly negative) to the counter; at zero it releases every
  // waiter. Throws std::logic_error, and changes nothing, if the counter would
  // go negative.
  void add(std::ptrdiff_t n) { add_impl(n, "goro::wait_group::add: negative counter"); }

  // counter: the counter now, for dumps (a snapshot).
  std::int32_t counter() const noexcept { return static_cast<std::int32_t>(state_.load(std::memory_order_relaxed) >> 32); }

  // done is add(-1); throws std::logic_error if the counter is already 0.
  void done() { add_impl(-1, "goro::wait_group::done: counter is already 0"); }

  // wait blocks until the counter is 0.
  void wait(wait_desc desc = {}) {
    // acquire: pairs with the release RMWs of done(), so their effects are
    // visible when the counter is seen at 0.
    std::uint64_t st = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((st >> 32) == 0) return;
      if (GORO_DETAIL_UNLIKELY(P::parking_forbidden())) P::cannot_park();  // before counting itself a waiter
      if (state_.compare_exchange_weak(st, st + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        P::semacquire(&sema_, wait_reason::sync_waitgroup_wait, false, desc);
        return;
      }
    }
  }

 private:
  void add_impl(std::ptrdiff_t n, const char* negative_msg) {
    std::uint64_t st = state_.load(std::memory_order_relaxed);
    std::int64_t v;
    std::uint32_t w;
    for (;;) {
      v = static_cast<std::int32_t>(st >> 32) + static_cast<std::int64_t>(n);
      w = static_cast<std::uint32_t>(st);
      if (v < 0) throw std::logic_error(negative_msg);
      if (v > INT32_MAX) throw std::logic_error("goro::wait_group::add: counter overflow");
      std::uint64_t next = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(v)) << 32) | w;
      // acq_rel: done() releases the work before it to the waiter (Go's
      // memory model: Done happens before the Wait it unblocks returns).
      if (state_.compare_exchange_weak(st, next, GORO_DETAIL_WG_DONE_ORDER, std::memory_order_relaxed)) break;
    }
    if (v > 0 || w == 0) return;
    // The counter hit 0 with waiters: no add or wait can race with us now
    // (Go: the state is stable; adding while waiters wait at 0 is misuse), so
    // reset it and release them.
    state_.store(0, std::memory_order_relaxed);
    for (; w > 0; --w) P::semrelease(&sema_, false);
  }

  typename P::template atomic<std::uint64_t> state_{0};  // counter << 32 | waiters
  typename P::sema_t sema_{0};
};

}  // namespace detail

// wait_group: Go's sync.WaitGroup (see wait_group_impl), with Go 1.25's Go.
class wait_group : public detail::wait_group_impl<detail::runtime_sync> {
  using impl = detail::wait_group_impl<detail::runtime_sync>;

 public:
  // add, done, wait: wait_group_impl's, with deterministic mode's scheduling
  // points and the race detector's edge (a done happens before the wait it
  // releases returns).
  void add(std::ptrdiff_t n) {
    detail::sync_release(this, [this, n] { impl::add(n); });
  }
  void done() {
    detail::sync_release(this, [this] { impl::done(); });
  }
  void wait() {
    detail::sync_acquire([this] { impl::wait(detail::wait_desc{this, &describe}); }, this);
  }

  // go runs f(args...) in a new goroutine, with add(1) before and done() after
  // it returns or unwinds (Go 1.25's WaitGroup.Go). Like goro::go: up to 8
  // arguments after f, then the creation site.
  template <class F>
  void go(F&& f, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f));
  }
  template <class F, class A1>
  void go(F&& f, A1&& a1, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1));
  }
  template <class F, class A1, class A2>
  void go(F&& f, A1&& a1, A2&& a2, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
  }
  template <class F, class A1, class A2, class A3>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
  }
  template <class F, class A1, class A2, class A3, class A4>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8>
  void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6, A7&& a7, A8&& a8, detail::source_loc site = detail::source_loc::here()) {
    go_at(site, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6), std::forward<A7>(a7), std::forward<A8>(a8));
  }
  template <class F, class A1, class A2, class A3, class A4, class A5, class A6, class A7, class A8, class A9, class... More>
  void go(F&&, A1&&, A2&&, A3&&, A4&&, A5&&, A6&&, A7&&, A8&&, A9&&, More&&...) {
    static_assert(detail::always_false<F>, "goro: go takes at most 8 arguments after the callable "
                  "(the creation site is a defaulted parameter after them); pass more in a struct or a lambda's captures");
  }

 private:
  template <class F, class... A>
  void go_at(detail::source_loc site, F&& f, A&&... a) {
    using C = detail::closure<F, A...>;
    // with_done destroys the goroutine's copies of f and args before done(),
    // as std::thread's end does before join returns: a wait() that returns
    // sees their destructors' effects, and may free what they refer to.
    struct with_done {
      wait_group* wg;
      std::optional<C> body;
      void operator()() {
        struct guard {
          with_done* w;
          ~guard() noexcept(false) {
            w->body.reset();
            w->wg->done();
          }
        } gd{this};
        (*body)();
      }
    };
    add(1);
    try {
      detail::spawn(with_done{this, std::optional<C>(C{std::forward<F>(f), {std::forward<A>(a)...}})}, site);
    } catch (...) {
      done();  // never started (goroutine_exit at the spawn's safe point, bad_alloc): not counted
      throw;
    }
  }

 private:
  // describe: the describe_fn of a goroutine parked in wait().
  static std::uint64_t describe(const void* obj, std::string* out, const detail::dump_ctx*) {
    if (out != nullptr) {
      const wait_group* wg = static_cast<const wait_group*>(obj);
      *out += "wait_group";
      detail::append_addr(*out, wg);
      *out += ", counter ";
      *out += std::to_string(wg->counter());
    }
    return 0;
  }
};

}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SYNC_HPP
