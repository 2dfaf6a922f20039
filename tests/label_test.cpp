// Goroutine labels (this_goroutine::set_label, docs/reference.md,
// "Diagnostics"): a label shows in the goroutine's dump entry, the last one
// set wins, a goroutine in a reused slot starts without one, and dumps on other
// threads while labels change are safe (the TSan job checks the latter).
// Built in both modes (det_label_test runs it on the seeded scheduler).
//
// Catch2 is not thread-safe: assertions run in the main goroutine or on the
// test thread after run() returns.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace {

// entry returns the dump entry of goroutine id ("goroutine <id> [" up to the
// blank line that ends it), or "" if the dump has none.
std::string entry(const std::string& dump, std::uint64_t id) {
  std::string head = "goroutine " + std::to_string(id) + " [";
  std::size_t at = dump.compare(0, head.size(), head) == 0 ? 0 : dump.find("\n" + head);
  if (at == std::string::npos) return {};
  if (at != 0) ++at;
  std::size_t end = dump.find("\n\n", at);
  return dump.substr(at, end == std::string::npos ? std::string::npos : end - at + 1);
}

}  // namespace

TEST_CASE("label: a goroutine's label shows in debug::dump", "[label]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string dump, mine;
  std::uint64_t id = 0;
  goro::run(
      [&] {
        goro::chan<int> release;
        goro::chan<std::uint64_t> started;
        goro::wait_group wg;
        wg.go([&] {
          goro::this_goroutine::set_label("worker 3");
          started.send(goro::this_goroutine::id());
          release.recv();
        });
        id = started.recv().value();
        dump = goro::debug::dump();
        mine = entry(dump, goro::this_goroutine::id());
        release.close();
        wg.wait();
      },
      goro::config{.procs = procs});
  INFO(dump);
  std::string e = entry(dump, id);
  REQUIRE_FALSE(e.empty());
  CHECK(e.find("]:\n\tlabel: worker 3\n\t") != std::string::npos);  // the label line comes right after the header
  CHECK(mine.find("label:") == std::string::npos);  // main has none
}

TEST_CASE("label: set twice keeps the last and an empty one removes it", "[label]") {
  auto procs = GENERATE(1u, 2u, 4u);
  std::string dump1, dump2, got1, got2;
  std::uint64_t id = 0;
  goro::run(
      [&] {
        id = goro::this_goroutine::id();
        goro::this_goroutine::set_label("first");
        goro::this_goroutine::set_label("second");
        got1 = goro::this_goroutine::label();
        dump1 = goro::debug::dump();
        goro::this_goroutine::set_label("");
        got2 = goro::this_goroutine::label();
        dump2 = goro::debug::dump();
      },
      goro::config{.procs = procs});
  INFO(dump1);
  CHECK(got1 == "second");
  CHECK(entry(dump1, id).find("\tlabel: second\n") != std::string::npos);
  CHECK(dump1.find("first") == std::string::npos);
  CHECK(got2.empty());
  CHECK(entry(dump2, id).find("label:") == std::string::npos);
}

TEST_CASE("label: set_label on a plain thread does nothing", "[label][threads]") {
  goro::this_goroutine::set_label("thread");
  CHECK(goro::this_goroutine::label().empty());
}

TEST_CASE("label: a goroutine in a reused slot starts without one", "[label]") {
  auto procs = GENERATE(1u, 2u, 4u);
  const int rounds = 50;
  int reused = 0, labelled_at_start = 0;
  std::string dump;
  std::uint64_t last_id = 0;
  goro::run(
      [&] {
        std::set<const void*> labelled;  // the g of every goroutine that set a label and exited
        goro::chan<int> done;
        for (int i = 0; i < rounds; ++i) {
          const void* self = nullptr;
          bool had = true;
          goro::go([&] {
            self = goro::detail::getm()->curg;
            had = !goro::this_goroutine::label().empty();
            goro::this_goroutine::set_label("round " + std::to_string(i));
            done.send(1);
          });
          done.recv();
          labelled_at_start += had ? 1 : 0;
          // Its exit comes after its send: wait until it is gone.
          while (goro::num_goroutines() > 1) goro::yield();
          reused += labelled.count(self) != 0 ? 1 : 0;
          labelled.insert(self);
        }
        // One more, blocked, in a slot that most likely held a label: its entry has none.
        goro::chan<int> release;
        goro::chan<std::uint64_t> started;
        goro::go([&] {
          started.send(goro::this_goroutine::id());
          release.recv();
        });
        last_id = started.recv().value();
        dump = goro::debug::dump();
        release.close();
        while (goro::num_goroutines() > 1) goro::yield();
      },
      goro::config{.procs = procs});
  CHECK(labelled_at_start == 0);
  INFO(dump);
  std::string e = entry(dump, last_id);
  REQUIRE_FALSE(e.empty());
  CHECK(e.find("label:") == std::string::npos);
  CHECK(dump.find("label:") == std::string::npos);
  // One P (and deterministic mode) reuses the last freed slot every time; more
  // Ps reuse some, from whichever P's cache.
  if (procs == 1) CHECK(reused == rounds - 1);
}

TEST_CASE("label: dumps while labels change", "[label]") {
  // Writers keep changing their labels while dumpers (on other Ps when procs > 1)
  // copy them: every label line of every dump is one a writer set, whole. The
  // writers stay alive, labelled, until the dumpers made a last dump after the
  // writers' loops, so the dumps see labels however the two are scheduled.
  auto procs = GENERATE(1u, 2u, 4u);
  const int writers = 4, dumpers = 2;
  const int iters = static_cast<int>(goro_test::scale(300));
  int bad = 0, seen = 0;
  std::string bad_line;
  goro::run(
      [&] {
        goro::wait_group wg_writers, wg_dumpers;
        goro::chan<int> release;
        std::atomic<int> writing{writers};
        std::vector<int> bad_by(dumpers, 0), seen_by(dumpers, 0);
        std::vector<std::string> line_by(dumpers);
        for (int w = 0; w < writers; ++w)
          wg_writers.go([&, w] {
            for (int k = 0; k < iters; ++k) {
              // Long enough to live on the heap (past the small-string buffer).
              goro::this_goroutine::set_label("writer " + std::to_string(w) + " step " + std::to_string(k) +
                                              " of a label longer than the small string buffer");
              goro::yield();
            }
            writing.fetch_sub(1);
            release.recv();
          });
        for (int d = 0; d < dumpers; ++d)
          wg_dumpers.go([&, d] {
            auto i = static_cast<std::size_t>(d);
            bool last = false;
            while (!last) {
              last = writing.load() == 0;
              std::string dump = goro::debug::dump();
              for (std::size_t at = dump.find("\tlabel: "); at != std::string::npos; at = dump.find("\tlabel: ", at + 1)) {
                std::string line = dump.substr(at, dump.find('\n', at) - at);
                ++seen_by[i];
                if (line.rfind("\tlabel: writer ", 0) != 0 || line.find(" of a label longer than the small string buffer") == std::string::npos) {
                  ++bad_by[i];
                  line_by[i] = line;
                }
              }
              goro::yield();
            }
          });
        wg_dumpers.wait();
        release.close();
        wg_writers.wait();
        for (int d = 0; d < dumpers; ++d) {
          auto i = static_cast<std::size_t>(d);
          bad += bad_by[i];
          seen += seen_by[i];
          if (!line_by[i].empty()) bad_line = line_by[i];
        }
      },
      goro::config{.procs = procs});
  INFO(bad_line);
  CHECK(bad == 0);
  CHECK(seen >= writers * dumpers);  // at least the last dumps' labels
}
