// wait_group_outcomes — the seeds' WaitGroup lesson: without a join point the
// order of main and a goroutine is not determined, and the program has three
// possible outcomes. goro's deterministic mode finds a seed for each, and the
// wait_group version has one outcome. Build with -DGORO_DETERMINISTIC=1.
//
//   data := 0; go func() { data++ }(); if data == 0 { fmt.Println("the value is", data) }
//
// On goro's single deterministic thread another goroutine runs only at a
// scheduling point; the two goro::sim::point() calls stand for the moments
// where Go's goroutine, running in parallel, could get ahead of main: before
// main's test, and between its test and its print.
#include "goro.hpp"

#include <cstdio>
#include <map>
#include <string>

namespace {

std::string racy() {
  int data = 0;
  std::string out;
  goro::wait_group keep_alive;  // keeps data alive until the goroutine is done (not a join point for the test)
  keep_alive.add(1);
  goro::go([&] {
    data++;
    keep_alive.done();
  });
  goro::sim::point();
  if (data == 0) {
    goro::sim::point();
    out = "the value is " + std::to_string(data);
  }
  keep_alive.wait();
  return out.empty() ? "(nothing printed)" : out;
}

std::string joined() {
  int data = 0;
  goro::wait_group wg;
  wg.add(1);
  goro::go([&] {
    data++;
    wg.done();
  });
  wg.wait();
  return "the value is " + std::to_string(data);
}

void show(const char* title, std::string (*body)()) {
  std::map<std::string, std::uint64_t> seen;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    std::string out;
    goro::run([&] { out = body(); }, goro::config{.seed = seed});
    seen.emplace(out, seed);
  }
  std::printf("%s: %zu outcome(s) in 200 seeds\n", title, seen.size());
  for (auto& [out, seed] : seen) std::printf("   %-20s first with GORO_SEED=%llu\n", out.c_str(), static_cast<unsigned long long>(seed));
}

}  // namespace

int main() {
  show("without a join point", racy);
  show("with a wait_group", joined);
}
