// goro/gcache.hpp — the g cache: pooled Gs with their stacks (Go: gfget /
// gfput and the stack caches of stack.go).
//
// A G lives at the top of its own stack slot (stack.hpp), so a pooled G is a
// pooled stack. Two levels: each P keeps a short list (p::gfree, owner P
// only), and a process-wide g_pool per stack size keeps batches of warm Gs
// (guarded by its mutex) and hands out fresh slots. Runtimes with the same
// stack_size share a pool. Stacks go back to the OS only in g_pool::scavenge,
// off the hot path, when Ms go idle.
#ifndef GORO_DETAIL_GCACHE_HPP
#define GORO_DETAIL_GCACHE_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "stack.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

inline constexpr std::uint32_t gcache_local_max = 64;         // Go: p.gFree over 64 moves half to sched.gFree
inline constexpr std::size_t gcache_global_warm_max = 1024;   // warm slots kept process-wide per stack size;
                                                              // more go back to the OS (stack.hpp, "Release")
inline constexpr std::int64_t scavenge_period_ns = 100'000'000;  // g_pool::scavenge at most every 100 ms

// ---------------------------------------------------------------------------
// g_pool: the process-wide pool of one stack size.

class g_pool {
 public:
  explicit g_pool(std::size_t usable) : space_(usable) {}
  stack_space& space() noexcept { return space_; }

  // take moves up to n warm Gs into the list at *head (which must be empty)
  // and returns how many. Whole batches move in O(1), without touching the
  // Gs (each lives on its own stack page: walking a list costs a cache miss
  // per G).
  std::uint32_t take(g** head, std::uint32_t n) {
    rt_lock_guard lk(mu_);
    if (warm_.empty() || n == 0) return 0;
    g_batch& b = warm_.back();
    std::uint32_t k;
    if (b.n <= n) {
      *head = b.head;
      k = b.n;
      warm_.pop_back();
    } else {  // a plain thread takes one at a time
      k = 0;
      while (k < n) {
        g* gp = b.head;
        b.head = gp->schedlink;
        gp->schedlink = *head;
        *head = gp;
        ++k;
      }
      b.n -= k;
    }
    nwarm_ -= k;
    low_water_ = std::min(low_water_, nwarm_);
    return k;
  }

  // put returns a list of n Gs to the pool, as one batch. Never makes a
  // system call: stacks beyond the warm cap go back to the OS only in
  // scavenge(), off the hot path.
  void put(g* list, std::uint32_t n) {
    if (list == nullptr) return;
    rt_lock_guard lk(mu_);
    warm_.push_back(g_batch{list, n});
    nwarm_ += n;
  }

  // scavenge returns to the OS the stacks of warm Gs that nobody took since
  // the last scavenge (the pool's low-water mark), beyond the warm cap
  // (stack.hpp, "Release"), at most every scavenge_period_ns. Ms going idle
  // call it, so after a burst of goroutines RSS falls once the burst is over;
  // force (run()'s end) releases everything beyond the cap at once.
  void scavenge(bool force = false);

  // fresh links up to n Gs on never-used or released (cold) slots into *head;
  // returns how many (0 if the OS refuses).
  std::uint32_t fresh(g** head, std::uint32_t n);

  // g_at_top returns the g at the top of a slot (for walks over all slots).
  static g* g_at_top(char* top) noexcept {
    auto addr = (reinterpret_cast<std::uintptr_t>(top) - sizeof(g)) & ~std::uintptr_t{63};
    return reinterpret_cast<g*>(addr);
  }

 private:
  static g* new_g_at(const stack_slot& s);

  struct g_batch {
    g* head;          // linked through g.schedlink
    std::uint32_t n;
  };
  rt_mutex mu_;
  std::vector<g_batch> warm_;  // guarded by mu_
  std::size_t nwarm_ = 0;      // guarded by mu_
  std::size_t low_water_ = 0;  // guarded by mu_: the fewest warm Gs since the last scavenge
  std::atomic<std::int64_t> last_scavenge_{0};  // written under mu_
  stack_space space_;
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED void g_pool::scavenge(bool force) {
  std::int64_t now = nanotime();
  if (!force && now - last_scavenge_.load(std::memory_order_relaxed) < scavenge_period_ns) return;
  std::vector<g_batch> victims;
  {
    rt_lock_guard lk(mu_);
    if (!force && now - last_scavenge_.load(std::memory_order_relaxed) < scavenge_period_ns) return;
    last_scavenge_.store(now, std::memory_order_relaxed);
    std::size_t idle = force ? nwarm_ : std::min(nwarm_, low_water_);
    // Oldest batches first: they sit at the front.
    std::size_t k = 0;
    while (k < warm_.size() && idle >= gcache_global_warm_max + warm_[k].n) {
      idle -= warm_[k].n;
      nwarm_ -= warm_[k].n;
      victims.push_back(warm_[k]);
      ++k;
    }
    warm_.erase(warm_.begin(), warm_.begin() + static_cast<std::ptrdiff_t>(k));
    low_water_ = nwarm_;
  }
  for (const g_batch& b : victims)
    for (g* gp = b.head; gp != nullptr;) {
      g* next = gp->schedlink;      // read before the page is dropped
      stack_slot slot = gp->stack;  // likewise: gp lives in that page
      space_.release(slot);
      gp = next;
    }
}

GORO_DETAIL_COMPILED std::uint32_t g_pool::fresh(g** head, std::uint32_t n) {
  std::vector<stack_slot> got;
  got.reserve(n);
  space_.reserve_batch(got, n, [](const stack_slot& s) { new_g_at(s); });
  for (const stack_slot& s : got) {
    g* gp = g_at_top(s.hi);
    gp->schedlink = *head;
    *head = gp;
  }
  return static_cast<std::uint32_t>(got.size());
}

GORO_DETAIL_COMPILED g* g_pool::new_g_at(const stack_slot& s) {
  g* gp = g_at_top(s.hi);
  ::new (static_cast<void*>(gp)) g();
  gp->stack = s;
  return gp;
}
#endif  // GORO_DETAIL_DEFINE_COMPILED


// pool_for returns the process-wide g pool for a stack size. Pools live
// forever (their slots may belong to goroutines of the default runtime, which
// is abandoned at exit).
#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED g_pool& pool_for(std::size_t stack_size) {
  static rt_mutex mu;
  static auto* pools = new std::vector<g_pool*>;  // leaked on purpose: see above
  std::size_t usable = stack_space::round_up(stack_size);
  rt_lock_guard lk(mu);
  for (g_pool* gp : *pools)
    if (gp->space().usable() == usable) return *gp;
  pools->push_back(new g_pool(usable));
  return *pools->back();
}
#else
GORO_DETAIL_COMPILED g_pool& pool_for(std::size_t stack_size);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// ---------------------------------------------------------------------------
// gfput / gfget: the per-P list in front of the pool (Go: gfput / gfget).
// Owner P only, or pp == nullptr for plain threads.

inline void gfput(g_pool& pool, p* pp, g* gp) {
  gp->status.store(gstatus::dead, std::memory_order_release);
  if (pp == nullptr) {
    gp->schedlink = nullptr;
    pool.put(gp, 1);
    return;
  }
  gp->schedlink = pp->gfree;
  pp->gfree = gp;
  if (++pp->ngfree >= gcache_local_max) {
    // Move half to the process-wide pool.
    // The first half of the list goes (the Gs freed longest ago: least likely
    // to be in this cache).
    g* keep_tail = pp->gfree;
    for (std::uint32_t i = 1; i < gcache_local_max / 2; ++i) keep_tail = keep_tail->schedlink;
    g* list = keep_tail->schedlink;
    keep_tail->schedlink = nullptr;
    std::uint32_t n = pp->ngfree - gcache_local_max / 2;
    pp->ngfree = gcache_local_max / 2;
    pool.put(list, n);
  }
}

inline g* gfget(g_pool& pool, p* pp) {
  if (pp == nullptr) {
    g* one = nullptr;
    if (pool.take(&one, 1) == 0 && pool.fresh(&one, 1) == 0) return nullptr;
    return one;
  }
  if (pp->gfree == nullptr) {
    std::uint32_t n = pool.take(&pp->gfree, gcache_local_max / 2);
    if (n == 0) n = pool.fresh(&pp->gfree, gcache_local_max / 2);
    pp->ngfree += n;
    if (n == 0) return nullptr;
  }
  g* gp = pp->gfree;
  pp->gfree = gp->schedlink;
  --pp->ngfree;
  // The next free G was last written by whichever M ran it: start pulling its
  // lines over now, for the next spawn (newproc writes all of them).
  if (g* next = pp->gfree) {
    const char* c = reinterpret_cast<const char*>(next);
    for (std::size_t off = 0; off < sizeof(g); off += 64) __builtin_prefetch(c + off, 1);
  }
  return gp;
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_GCACHE_HPP
