// goro/spinning.hpp — the two halves of the spinning-M protocol (Go: "Worker
// thread parking/unparking", proc.go), as templates over the counters' atomic
// type so that the Relacy model (tests/relacy/spinning.cpp) checks the code
// the scheduler runs. sched.hpp instantiates them with std::atomic (wakep,
// find_runnable); see "Spinning Ms" in docs/design.md.
//
// The goal: never lose a wake-up (a runnable G, an idle P and no M looking for
// work), without waking an M for every ready. It is a Dekker pair:
//   submitter (wakep_claim): queue the G, #StoreLoad, load npidle and
//     nmspinning (seq_cst); a P is idle and no M spins -> claim the spinner
//     slot (nmspinning 0->1) and start a spinning M.
//   spinning M giving up (spinning_to_idle): its P is already on the idle
//     list (npidle stored seq_cst under sched.lock); decrement nmspinning
//     (seq_cst), #StoreLoad, re-check every run queue; work -> take an idle
//     P back and spin again, else sleep.
// Either the submitter sees the idle P and no spinner, or the M's re-check
// sees the G. The #StoreLoad is `fence` (the runtime: full_fence).
#ifndef GORO_DETAIL_SPINNING_HPP
#define GORO_DETAIL_SPINNING_HPP

#include "config.hpp"

#include <atomic>
#include <cstdint>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// wakep_claim: the submitter's half, after it queued a G. Returns whether it
// claimed the spinner slot: then the caller must start a spinning M (the
// count is already in nmspinning). via_runnext: the G was published by a
// seq_cst exchange of runnext, which already orders it before the loads below
// (and the re-check reads runnext seq_cst), so the fence is skipped. Any
// thread.
template <class Atomic, class Fence>
GORO_DETAIL_ALWAYS_INLINE inline bool wakep_claim(Atomic& npidle, Atomic& nmspinning, bool via_runnext,
                                                  Fence fence) noexcept {
  if (!via_runnext) fence();  // #StoreLoad: the queued G before the npidle/nmspinning reads
  if (npidle.load(std::memory_order_seq_cst) == 0) return false;
  std::int32_t zero = 0;
  return nmspinning.load(std::memory_order_seq_cst) == 0 &&
         nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst);
}

// spinning_to_idle: the spinning M's half, after its P went to the idle list.
// Stops counting this M as spinning, then re-checks every run queue
// (has_work(): the global queue and every P's ring and runnext). Returns
// whether there is work: the caller then takes an idle P back and spins again
// (nmspinning += 1); else it may sleep. The spinning M, holding no P.
template <class Atomic, class Fence, class HasWork>
inline bool spinning_to_idle(Atomic& nmspinning, Fence fence, HasWork has_work) {
  if (nmspinning.fetch_sub(1, std::memory_order_seq_cst) <= 0) fatal("spinning_to_idle: negative nmspinning");
  fence();  // #StoreLoad: nmspinning before the run queue re-check
  return has_work();
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_SPINNING_HPP
