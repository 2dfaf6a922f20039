// Must NOT compile (tests/CMakeLists.txt, runtime.go_arity_limit): goro::go
// and wait_group::go take at most 8 arguments after the callable, because
// the creation site is a defaulted parameter after them. A ninth is a
// static_assert that says so, never a silently lost site.
#include "goro.hpp"

int main() {
  goro::run([] {
    auto f = [](int, int, int, int, int, int, int, int, int) {};
    goro::go(f, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    goro::wait_group wg;
    wg.go(f, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    wg.wait();
  });
}
