// tests/relacy/rwmutex.cpp — Relacy models of goro's shared_mutex: the
// production goro::detail::rwmutex_impl<P> (include/goro/sync.hpp, Go's
// sync.RWMutex: reader_count / reader_wait, a writer mutex and two
// semaphores) with P = goro_rl::rl_sync (rl_sync.hpp).
//
// What is checked: writers write a pair of plain values (rl::var) under lock();
// readers read the pair under lock_shared() and check that both halves come
// from the same write. A write not ordered after the readers' reads, or a read
// not ordered after the write, is a Relacy DATA RACE. Atomic RMW counters
// (always the latest value, whatever the memory orders) check the exclusion
// itself: a writer is alone, readers only with readers. Readers inside
// together are allowed and counted. A lost wake-up (a reader parked on
// reader_sem, or a writer on writer_sem or the writer mutex, forever) is a
// Relacy DEADLOCK.
//   a: 1 writer x 2 + 2 readers x 2 (reader 2 tries try_lock_shared first)  random 300k + context bound 2
//   b: 2 writers x 1 (writer 1 tries try_lock first) + 1 reader x 2          random 300k + context bound 2
//   c: 1 writer x 1 + 1 reader x 1                                            sched_full (exhaustive)
//
// Broken variant (-DGORO_RELACY_BROKEN=1, or -DGORO_RWMUTEX_BROKEN=1): sync.hpp's
// fault injection point GORO_DETAIL_RWMUTEX_RUNLOCK_ORDER is set to relaxed, so
// unlock_shared's fetch_sub on reader_count no longer releases the reader's
// critical section: a writer whose lock() finds no reader inside does not
// synchronise with the departed reader, and its write must be reported as a
// DATA RACE with the reader's read (the program must exit non-zero).
//
// Build and run (exit 0 = every model passed):
//   g++ -std=c++20 -O1 -g -I include -I tests/relacy tests/relacy/rwmutex.cpp -o rw && ./rw
#if (defined(GORO_RWMUTEX_BROKEN) && GORO_RWMUTEX_BROKEN) || (defined(GORO_RELACY_BROKEN) && GORO_RELACY_BROKEN)
#define GORO_RWMUTEX_MODEL_BROKEN 1
// The one deliberate bug: unlock_shared's fetch_sub is relaxed instead of release.
#define GORO_DETAIL_RWMUTEX_RUNLOCK_ORDER std::memory_order_relaxed
#else
#define GORO_RWMUTEX_MODEL_BROKEN 0
#endif

#include <goro/goro.hpp>  // the whole runtime: a part alone is not complete (goro/goro.hpp)

#include <cstdio>

#include "rl_sync.hpp"  // last: includes <relacy/relacy.hpp>, which #defines new, delete, $, ...

namespace {

using goro_rl::rl_sync;
using rwmutex_t = goro::detail::rwmutex_impl<rl_sync>;

struct coverage_t {
  unsigned long long try_shared_ok = 0, try_shared_fail = 0;  // try_lock_shared
  unsigned long long try_ok = 0, try_fail = 0;                // try_lock
  unsigned long long readers_together = 0;                    // a reader entered while another was inside
  unsigned long long saw_initial = 0, saw_written = 0;        // a reader saw the initial pair / a written one
};
coverage_t cov;

template <class Derived, rl::thread_id_t Threads>
struct rw_model : rl::test_suite<Derived, Threads> {
  goro_rl::rl_sema_numbering numbering;  // before rw: numbers its semaphores 0..2
  rwmutex_t rw;
  static constexpr const char* sema_names[] = {"writer mutex w_.sema_", "writer_sem", "reader_sem", nullptr};
  rl::var<int> x, y;                   // the protected pair: always equal when observed under the lock
  goro_rl::atomic<int> readers_in{0};  // exclusion checks: RMWs only
  goro_rl::atomic<int> writers_in{0};

  static void reset_coverage() { cov = coverage_t{}; }
  static void print_coverage() {
    std::printf("  rwmutex: try_lock_shared ok %llu, failed %llu; try_lock ok %llu, failed %llu; "
                "reader entered beside another reader %llu; reader saw initial %llu, written %llu\n",
                cov.try_shared_ok, cov.try_shared_fail, cov.try_ok, cov.try_fail, cov.readers_together,
                cov.saw_initial, cov.saw_written);
  }

  void before() {
    rl_sync::reset_iteration();
    x($) = 0;
    y($) = 0;
  }

  // kRmwChecks: the exclusion RMWs are scheduling points; the exhaustive model
  // leaves them out (an overlap is a DATA RACE on x/y anyway).
  static constexpr bool kRmwChecks = true;

  void write_section(int v) {
    if (Derived::kRmwChecks) {
      RL_ASSERT(writers_in.fetch_add(1, std::memory_order::relaxed) == 0);
      RL_ASSERT(readers_in.fetch_add(0, std::memory_order::relaxed) == 0);
    }
    x($) = v;
    y($) = v;
    if (Derived::kRmwChecks) RL_ASSERT(writers_in.fetch_sub(1, std::memory_order::relaxed) == 1);
  }

  void read_section() {
    if (Derived::kRmwChecks) {
      if (readers_in.fetch_add(1, std::memory_order::relaxed) != 0) ++cov.readers_together;
      RL_ASSERT(writers_in.fetch_add(0, std::memory_order::relaxed) == 0);
    }
    int a = x($);
    int b = y($);
    RL_ASSERT(a == b);
    ++(a == 0 ? cov.saw_initial : cov.saw_written);
    if (Derived::kRmwChecks) readers_in.fetch_sub(1, std::memory_order::relaxed);
  }

  void writer(int id, int rounds, bool try_first) {
    for (int r = 0; r < rounds; ++r) {
      if (try_first && r == 0) {
        if (rw.try_lock()) {
          ++cov.try_ok;
        } else {
          ++cov.try_fail;
          rw.lock();
        }
      } else {
        rw.lock();
      }
      write_section(100 * (id + 1) + r + 1);
      rw.unlock();
    }
  }

  void reader(int rounds, bool try_first) {
    for (int r = 0; r < rounds; ++r) {
      if (try_first && r == 0) {
        if (rw.try_lock_shared()) {
          ++cov.try_shared_ok;
        } else {
          ++cov.try_shared_fail;
          rw.lock_shared();
        }
      } else {
        rw.lock_shared();
      }
      read_section();
      rw.unlock_shared();
    }
  }

  void after() {
    RL_ASSERT(rw.try_lock());  // free: no reader or writer left inside or counted
    rw.unlock();
  }
};

// (a) one writer, two readers.
struct model_a : rw_model<model_a, 3> {
  void thread(unsigned me) {
    if (me == 0) writer(0, 2, false);
    else reader(2, me == 2);
  }
};

// (b) two writers (contending on the writer mutex), one reader.
struct model_b : rw_model<model_b, 3> {
  void thread(unsigned me) {
    if (me < 2) writer(static_cast<int>(me), 1, me == 1);
    else reader(2, false);
  }
};

// (c) one writer, one reader, once each: small enough for an exhaustive search.
struct model_c : rw_model<model_c, 2> {
  static constexpr bool kRmwChecks = false;
  void thread(unsigned me) {
    if (me == 0) writer(0, 1, false);
    else reader(1, false);
  }
};

}  // namespace

int main() {
  std::printf("rwmutex_impl Relacy models%s\n",
              GORO_RWMUTEX_MODEL_BROKEN ? ", BROKEN variant (relaxed fetch_sub in unlock_shared): failures are expected"
                                        : "");
  bool ok = true;
  ok &= goro_rl::check<model_a>("rwmutex", "a (1 writer + 2 readers)", rl::sched_random, 300000);
  ok &= goro_rl::check<model_a>("rwmutex", "a (1 writer + 2 readers)", rl::sched_bound, 0, 2);
  ok &= goro_rl::check<model_b>("rwmutex", "b (2 writers + 1 reader)", rl::sched_random, 300000);
  ok &= goro_rl::check<model_b>("rwmutex", "b (2 writers + 1 reader)", rl::sched_bound, 0, 2);
  ok &= goro_rl::check<model_c>("rwmutex", "c (1 writer + 1 reader)", rl::sched_full, 0);
  std::printf("rwmutex models: %s\n", ok ? "all passed" : "FAILED");
  return ok ? 0 : 1;
}
