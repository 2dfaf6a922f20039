// fuzz_chan — libFuzzer target: the input bytes are the scheduling decisions
// (goro::sim::run_with_choices) of a program of producers, consumers, a
// select loop and timers over buffered and unbuffered channels. Go's channel
// invariants are checked; a violation (or any failure of the run: deadlock,
// panic, race) traps, and libFuzzer keeps the input, which replays it.
// Build (clang only): clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//   -DGORO_DETERMINISTIC=1 -I. fuzz/fuzz_chan.cpp
#include "goro.hpp"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <span>
#include <vector>

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_chan: invariant violated: %s\n", what);
  __builtin_trap();
}

constexpr int producers = 2;
constexpr int per_producer = 6;

void program() {
  goro::chan<int> buffered(2), unbuffered;
  goro::wait_group wg;
  for (int p = 0; p < producers; ++p)
    wg.go([=] {
      for (int i = 0; i < per_producer; ++i) (i % 2 == 0 ? buffered : unbuffered).send(p * 100 + i);
    });
  // A consumer per channel plus a select loop draining both; every value must
  // arrive exactly once and, per producer and channel, in order (FIFO).
  std::vector<int> seen(producers * 100, 0);
  int last[2][producers];
  for (auto& row : last)
    for (int& v : row) v = -1;
  auto take = [&](int ch, int v) {
    int p = v / 100;
    if (p < 0 || p >= producers || ++seen[v] != 1) violated("a value was received twice or is unknown");
    if (v % 100 <= last[ch][p]) violated("values of one producer arrived out of order on one channel");
    last[ch][p] = v % 100;
  };
  int received = 0;
  goro::chan<int> done(1);
  wg.go([&] {
    while (received < producers * per_producer / 2) {
      auto v = buffered.recv();
      if (!v) violated("buffered channel closed early");
      take(0, *v);
      ++received;
    }
  });
  goro::timer t(std::chrono::milliseconds(5));
  bool fired = false;
  for (int got = 0; got < producers * per_producer / 2;) {
    goro::select(goro::recv_case(unbuffered,
                                 [&](std::optional<int> v) {
                                   if (!v) violated("unbuffered channel closed");
                                   take(1, *v);
                                   ++got;
                                 }),
                 goro::recv_case(t.c(), [&](auto) { fired = true; }));
  }
  wg.wait();
  if (received != producers * per_producer / 2) violated("values lost");
  for (int p = 0; p < producers; ++p)
    for (int i = 0; i < per_producer; ++i)
      if (seen[p * 100 + i] != 1) violated("a value was lost");
  (void)fired;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    goro::sim::run_with_choices(std::span<const std::uint8_t>(data, size), program);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_chan: the run failed: %s\n", e.what());
    __builtin_trap();
  }
  return 0;
}
