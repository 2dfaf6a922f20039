// goro/sema.hpp — the runtime semaphore under wait_group and the sync types
// (Go: sema.go, semacquire / semrelease).
//
// A semaphore is a std::atomic<std::uint32_t> count anywhere in memory. Waiters
// queue in one of sema_table_size buckets chosen by the count's address, each
// with its own lock and a FIFO of wait records (sema_waiter) that live on the
// waiters' own stacks. nwait lets semrelease skip the lock when nobody waits.
//
// No lost wake-up (Go's "Easy case" comment): the acquirer increments nwait,
// then re-checks the count, both under the bucket lock and with seq_cst; the
// releaser increments the count, then reads nwait (seq_cst). Either the
// acquirer sees the new count or the releaser sees the waiter.
//
// handoff (for mutex starvation mode): semrelease passes the count straight to
// the first waiter (ticket), so no newcomer can take it first.
#ifndef GORO_DETAIL_SEMA_HPP
#define GORO_DETAIL_SEMA_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "park.hpp"

#include <atomic>
#include <cstdint>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::size_t sema_table_size = 251;  // Go: semTabSize

// sema_waiter: one goroutine (or plain thread) waiting in semacquire. Lives on
// the waiter's stack; linked while queued. Guarded by its bucket's lock.
struct sema_waiter {
  g* gp = nullptr;
  const std::atomic<std::uint32_t>* addr = nullptr;
  sema_waiter* next = nullptr;
  sema_waiter* prev = nullptr;
  bool queued = false;
  bool ticket = false;  // handoff: the releaser gave this waiter the count
};

struct alignas(64) sema_root {
  rt_mutex lock;
  sema_waiter* head = nullptr;  // guarded by lock
  sema_waiter* tail = nullptr;  // guarded by lock
  std::atomic<std::uint32_t> nwait{0};

  // Requires lock.
  void enqueue(sema_waiter* w, bool lifo) noexcept {
    w->queued = true;
    if (lifo) {
      w->prev = nullptr;
      w->next = head;
      if (head != nullptr) head->prev = w;
      else tail = w;
      head = w;
    } else {
      w->next = nullptr;
      w->prev = tail;
      if (tail != nullptr) tail->next = w;
      else head = w;
      tail = w;
    }
  }
  void unlink(sema_waiter* w) noexcept {
    if (w->prev != nullptr) w->prev->next = w->next;
    else head = w->next;
    if (w->next != nullptr) w->next->prev = w->prev;
    else tail = w->prev;
    w->next = w->prev = nullptr;
    w->queued = false;
  }
  // dequeue removes the first waiter on addr. Requires lock.
  sema_waiter* dequeue(const std::atomic<std::uint32_t>* addr) noexcept {
    for (sema_waiter* w = head; w != nullptr; w = w->next) {
      if (w->addr == addr) {
        unlink(w);
        return w;
      }
    }
    return nullptr;
  }
};

inline sema_root& semroot(const void* addr) noexcept {
  static sema_root table[sema_table_size];
  return table[(reinterpret_cast<std::uintptr_t>(addr) >> 3) % sema_table_size];
}

inline bool cansemacquire(std::atomic<std::uint32_t>* addr) noexcept {
  std::uint32_t v = addr->load(std::memory_order_seq_cst);
  while (v != 0) {
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_seq_cst)) return true;
  }
  return false;
}

// semacquire waits until *addr > 0 and decrements it (Go: semacquire1).
// lifo: queue at the head (a waiter that already waited once, Go's mutex).
// Any goroutine or plain thread. May throw goroutine_exit (shutdown).
// desc: what the caller waits on, for dumps (park_opts::wait_obj, describe).
inline void semacquire(std::atomic<std::uint32_t>* addr, wait_reason why, bool lifo = false, wait_desc desc = {}) {
  if (cansemacquire(addr)) return;
  throw_if_blocking();
  sema_root& root = semroot(addr);
  sema_waiter w;
  w.gp = getg();
  w.addr = addr;
  for (;;) {
    root.lock.lock();
    root.nwait.fetch_add(1, std::memory_order_seq_cst);
    if (cansemacquire(addr)) {
      root.nwait.fetch_sub(1, std::memory_order_seq_cst);
      root.lock.unlock();
      return;
    }
    root.enqueue(&w, lifo);
    park(
        why, [](g*, void* r) noexcept { static_cast<sema_root*>(r)->lock.unlock(); return true; }, &root,
        park_opts{[](g*, void* wp) noexcept {
                    auto* w2 = static_cast<sema_waiter*>(wp);
                    sema_root& r = semroot(w2->addr);
                    rt_lock_guard lk(r.lock);
                    if (!w2->queued) return false;
                    r.unlink(w2);
                    r.nwait.fetch_sub(1, std::memory_order_seq_cst);
                    return true;
                  },
                  &w, desc.obj, desc.describe});
    if (w.ticket || cansemacquire(addr)) return;
    lifo = true;  // Go: requeue at the head after a lost race
  }
}

// semrelease increments *addr and wakes one waiter (Go: semrelease1). Any
// goroutine or plain thread; never parks.
inline void semrelease(std::atomic<std::uint32_t>* addr, bool handoff = false) {
  plain_call_scope scope;
  sema_root& root = semroot(addr);
  addr->fetch_add(1, std::memory_order_seq_cst);
  if (root.nwait.load(std::memory_order_seq_cst) == 0) return;
  sema_waiter* w;
  {
    rt_lock_guard lk(root.lock);
    if (root.nwait.load(std::memory_order_seq_cst) == 0) return;
    w = root.dequeue(addr);
    if (w == nullptr) return;
    root.nwait.fetch_sub(1, std::memory_order_seq_cst);
    if (handoff && cansemacquire(addr)) w->ticket = true;
  }
  ready(w->gp);
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SEMA_HPP
