// pipeline — Go's pipeline pattern ("Go Concurrency Patterns: Pipelines and
// cancellation"): a generator stage, a squaring stage fanned out to three
// goroutines, a merge that fans their outputs back in, and cancellation: the
// consumer takes only the first results it needs, then closes `done`, and every
// stage, blocked or not, sees it in its select and returns. No goroutine is
// left behind (checked with goro::num_goroutines()).
#include "goro.hpp"

#include <cstdio>
#include <memory>
#include <vector>

namespace {

// gen sends 1, 2, 3, ... on its output until done is closed.
goro::chan<long> gen(goro::chan<int> done, goro::wait_group& wg) {
  goro::chan<long> out;
  wg.go([done, out] {
    for (long n = 1;; ++n) {
      bool cancelled = false;
      goro::select(goro::send_case(out, n, [] {}), goro::recv_case(done, [&](std::optional<int>) { cancelled = true; }));
      if (cancelled) break;
    }
    out.close();
  });
  return out;
}

// sq squares what arrives on in, until in is closed or done is.
goro::chan<long> sq(goro::chan<int> done, goro::chan<long> in, goro::wait_group& wg) {
  goro::chan<long> out;
  wg.go([done, in, out] {
    for (long v : in) {
      bool cancelled = false;
      goro::select(goro::send_case(out, v * v, [] {}), goro::recv_case(done, [&](std::optional<int>) { cancelled = true; }));
      if (cancelled) break;
    }
    out.close();
  });
  return out;
}

// merge fans in: one goroutine per input copies to out; out is closed when all are done.
goro::chan<long> merge(goro::chan<int> done, const std::vector<goro::chan<long>>& ins, goro::wait_group& wg) {
  goro::chan<long> out;
  auto copiers = std::make_shared<goro::wait_group>();
  for (const auto& in : ins) {
    copiers->add(1);
    wg.go([done, in, out, copiers] {
      for (long v : in) {
        bool cancelled = false;
        goro::select(goro::send_case(out, v, [] {}), goro::recv_case(done, [&](std::optional<int>) { cancelled = true; }));
        if (cancelled) break;
      }
      copiers->done();
    });
  }
  wg.go([out, copiers] {
    copiers->wait();
    out.close();
  });
  return out;
}

}  // namespace

int main() {
  constexpr int wanted = 10;
  long sum = 0;
  std::size_t left = 0;
  goro::run([&] {
    goro::wait_group stages;  // every goroutine of the pipeline
    goro::chan<int> done;     // closed to cancel: a closed channel is ready for every receiver
    goro::chan<long> nums = gen(done, stages);
    std::vector<goro::chan<long>> squarers;
    for (int i = 0; i < 3; ++i) squarers.push_back(sq(done, nums, stages));  // fan-out: three readers of nums
    goro::chan<long> squares = merge(done, squarers, stages);                 // fan-in

    std::vector<long> got;
    for (long v : squares) {
      got.push_back(v);
      if (got.size() == wanted) break;
    }
    done.close();   // cancel: the generator, the squarers and the copiers all return
    stages.wait();  // and every one of them has
    // done() runs in each goroutine's last destructor: the goroutine itself
    // ends just after. Let the last of them finish before counting.
    while (goro::num_goroutines() > 1) goro::yield();
    left = goro::num_goroutines();
    for (long v : got) sum += v;
    std::printf("took %d squares from an endless generator through 3 squarers and a merge\n", wanted);
  });
  // The first ten squares of 1, 2, 3, ... in some order are not always 1..10:
  // a squarer may hold a later number while another delivers; check squares only.
  std::printf("after cancelling: %zu goroutine(s) left (main), sum of the squares taken %ld\n", left, sum);
  return left == 1 && sum >= 385 ? 0 : 1;
}
