#include "goro.hpp"

int spawn_in_tu2() {
  int b = 0;
  goro::run([&] {
    goro::wait_group wg;
    wg.go([&] { b = 2; });
    wg.wait();
  });
  return b;
}
