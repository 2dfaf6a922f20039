// hello — the first goroutine (Go tour, "Goroutines"): `go say("world")` runs
// say concurrently with main's own say("hello"). Each sleeps between prints,
// and while one sleeps the other runs, so the lines interleave.
//
// In Go:
//   func say(s string) { for i := 0; i < 3; i++ { time.Sleep(100 * time.Millisecond); fmt.Println(s) } }
//   func main() { go say("world"); say("hello") }
#include "goro.hpp"

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

void say(const std::string& s) {
  for (int i = 0; i < 3; ++i) {
    goro::sleep_for(100ms);  // parks this goroutine; its thread runs the other one
    std::printf("%s\n", s.c_str());
  }
}

int main() {
  auto t0 = std::chrono::steady_clock::now();
  goro::run([] {
    goro::go(say, std::string("world"));  // the argument is copied into the goroutine, like std::thread
    say("hello");
    // Like Go, main does not wait for other goroutines: when it returns, the
    // runtime ends them (goro unwinds them so their destructors run). Give the
    // last "world" time to print.
    goro::sleep_for(50ms);
  });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  // Six 100 ms sleeps, run concurrently: about 350 ms, not 650.
  std::printf("done in %s\n", ms < 600 ? "about 0.3 s: the sleeps overlapped" : "too long: the sleeps did not overlap");
  return ms < 600 ? 0 : 1;
}
