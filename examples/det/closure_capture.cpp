// closure_capture — the seeds' closure-capture bug in goro's deterministic
// mode. Build with -DGORO_DETERMINISTIC=1.
//
// 1. The loop variable declared outside the loop and captured by reference:
//    every goroutine reads the one variable, which the loop has moved on. When
//    the goroutines run only once main waits they all print 4 (`4 4 4 4`, what
//    the seeds' Go program prints); a seed that lets a goroutine run at one of
//    main's go() calls (each is a scheduling point) prints an earlier value.
//    The example uses PCT (random priorities: often main runs until it waits)
//    and lists each output with the first seed that prints it.
// 2. The fix: capture by value (Go: pass i as a parameter): always 0 1 2 3, in
//    an order that depends on the seed.
// 3. `closure_capture --scoped`: the loop variable declared in the for
//    statement and captured by reference, read after its scope ended. Undefined
//    behaviour: run it in an AddressSanitizer build, which reports
//    stack-use-after-scope.
#include "goro.hpp"

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

namespace {

std::string shared_variable() {
  std::string out;
  goro::wait_group wg;
  int i;
  for (i = 0; i < 4; ++i) wg.go([&] { out += std::to_string(i) + " "; });
  wg.wait();
  return out;
}

std::string by_value() {
  std::string out;
  goro::wait_group wg;
  for (int i = 0; i < 4; ++i) wg.go([&out, i] { out += std::to_string(i) + " "; });
  wg.wait();
  return out;
}

void scoped_by_reference() {
  goro::wait_group wg;
  {
    for (int i = 0; i < 4; ++i) wg.go([&] { std::printf("%d ", i); });  // i dies at the end of each iteration
  }
  wg.wait();
  std::printf("\n");
}

// outcomes runs body under seeds 1..n and returns each distinct output with
// the first seed that printed it.
template <class F>
std::map<std::string, std::uint64_t> outcomes(F body, std::uint64_t n) {
  std::map<std::string, std::uint64_t> seen;
  for (std::uint64_t seed = 1; seed <= n; ++seed) {
    std::string out;
    goro::run([&] { out = body(); }, goro::config{.seed = seed, .how = goro::sim::strategy::pct});
    seen.emplace(out, seed);
  }
  return seen;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--scoped") == 0) {
    goro::run(scoped_by_reference, goro::config{.seed = 1});
    return 0;
  }
  std::printf("1. int i; for (i = 0; i < 4; ++i) go([&] { print(i); }):\n");
  auto shared = outcomes(shared_variable, 200);
  for (auto& [out, seed] : shared)
    std::printf("   prints %-10s first with GORO_SEED=%llu GORO_STRATEGY=pct\n", out.c_str(), static_cast<unsigned long long>(seed));
  if (shared.count("4 4 4 4 ") == 0) return 1;
  std::printf("2. for (int i = 0; i < 4; ++i) go([i] { print(i); }):\n");
  auto fixed = outcomes(by_value, 200);
  std::printf("   %zu orders of 0 1 2 3 in 200 seeds, for example:\n", fixed.size());
  int shown = 0;
  for (auto& [out, seed] : fixed)
    if (shown++ < 3)
      std::printf("   prints %-10s first with GORO_SEED=%llu GORO_STRATEGY=pct\n", out.c_str(), static_cast<unsigned long long>(seed));
  std::printf("3. run `closure_capture --scoped` in an AddressSanitizer build: stack-use-after-scope\n");
  return 0;
}
