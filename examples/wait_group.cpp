// wait_group — seed 002's WaitGroup exercise. Without a join point, main and
// the goroutine race: main may check `data` before, between or after the
// goroutine's increment, so one run prints nothing, "the value is 0" or "the
// value is 1". A wait_group makes main wait for the goroutine (a fork/join).
//
// In Go:
//   var data int
//   go func() { data++ }()
//   if data == 0 { fmt.Printf("the value is %v\n", data) }
//
// `data` is a std::atomic here, so the racy version is a race condition (an
// ordering bug) but not a C++ data race, which would be undefined behaviour:
// the program stays well-defined and ThreadSanitizer-clean, and the outcomes
// are the seed's three.
#include "goro.hpp"

#include <atomic>
#include <cstdio>

namespace {

// racy is the seed's program, returning which of its three outcomes happened:
// 0 "nothing printed", 1 "the value is 0", 2 "the value is 1".
int racy() {
  int outcome = 0;
  goro::run(
      [&outcome] {
        std::atomic<int> data{0};
        goro::go([&data] { data.fetch_add(1); });  // data outlives it: main waits below
        if (data.load() == 0) outcome = 1 + data.load();
        while (data.load() == 0) goro::yield();  // (only so that `data` outlives the goroutine)
      },
      goro::config{.procs = 2});
  return outcome;
}

}  // namespace

int main() {
  const int runs = 300;
  int seen[3] = {};
  for (int i = 0; i < runs; ++i) ++seen[racy()];
  std::printf("without a join point, %d runs:\n", runs);
  std::printf("  %3d printed nothing (the goroutine ran before main checked)\n", seen[0]);
  std::printf("  %3d printed \"the value is 0\" (main checked and printed before it ran)\n", seen[1]);
  std::printf("  %3d printed \"the value is 1\" (it ran between main's check and print)\n", seen[2]);

  int printed = -1;
  goro::run([&printed] {
    int data = 0;  // a plain int: the wait_group orders the increment before the read
    goro::wait_group wg;
    wg.add(1);  // before `go`, as the seed explains: wait must not run before add
    goro::go([&data, &wg] {
      ++data;
      wg.done();
    });
    wg.wait();  // join: main parks until the goroutine is done
    printed = data;
  });
  std::printf("with a wait_group: the value is %d, every time\n", printed);
  return printed == 1 && seen[0] + seen[1] + seen[2] == runs ? 0 : 1;
}
