// crawler — a crawl of a small in-memory "web" with goro::errgroup (Go's
// golang.org/x/sync/errgroup): every fetch is a goroutine of one group, at
// most 3 at once (set_limit). One page fails to fetch. Its exception is the
// group's first error: it cancels the group's context, so the fetches in
// flight (sleeping on that context) end with goro::canceled_error, the crawl
// starts no more, and wait() rethrows the failure. No goroutine is left
// behind (checked with goro::num_goroutines()).
//
// The crawl's coordinator (main) starts fetches and reads their reports from
// an unbuffered channel. At the limit, try_go() says no and main takes a
// report instead, which lets a fetch finish and free its slot; only when
// every started fetch has reported does it park in go() for a slot (the
// fetches holding them are just returning).
#include "goro.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct page {
  std::vector<std::string> links;
  std::chrono::milliseconds latency;
  bool broken = false;  // fetching it fails (after its latency)
};

// The web: the home page's three sections are fetched first, together; the
// six pages they link to follow, three at a time. /blog/2023 fails after
// 15 ms, while the pages fetched with it take 40 ms: whichever three go
// first, the failure comes while fetches are in flight.
const std::map<std::string, page> web = {
    {"/", {{"/docs", "/blog", "/pkg"}, 10ms}},
    {"/docs", {{"/", "/docs/tour", "/docs/faq"}, 10ms}},
    {"/blog", {{"/", "/blog/errgroup", "/blog/2023"}, 10ms}},
    {"/pkg", {{"/", "/pkg/sync", "/pkg/context"}, 10ms}},
    {"/docs/tour", {{"/docs", "/pkg/sync"}, 40ms}},
    {"/docs/faq", {{"/docs"}, 40ms}},
    {"/blog/errgroup", {{"/blog", "/pkg/sync"}, 40ms}},
    {"/blog/2023", {{"/blog"}, 15ms, true}},
    {"/pkg/sync", {{"/pkg"}, 40ms}},
    {"/pkg/context", {{"/pkg"}, 40ms}},
};

// fetch returns the links of url's page after its latency, unless ctx is
// cancelled first (goro::canceled_error).
std::vector<std::string> fetch(const std::string& url, const goro::context& ctx) {
  const page& p = web.at(url);
  goro::sleep_for(p.latency, ctx);
  if (p.broken) throw std::runtime_error("fetch " + url + ": 500 internal server error");
  return p.links;
}

// report: what a fetch tells the coordinator, exactly once, however it ends.
struct report {
  std::string url;
  enum { fetched, failed, cancelled } outcome = failed;
  std::vector<std::string> links;
};

std::string joined(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  std::string s;
  for (const auto& x : v) s += " " + x;
  return s;
}

}  // namespace

int main() {
  constexpr int limit = 3;
  std::vector<std::string> fetched, cancelled;
  std::string first_error = "(none)";
  std::size_t not_started = 0, left = 0;
  goro::run([&] {
    goro::errgroup g(goro::context{});  // g.ctx(): cancelled at the first failure
    g.set_limit(limit);
    goro::chan<report> reports;
    auto fetch_one = [&g, reports](const std::string& url) {
      report r{url, report::failed, {}};
      try {
        r.links = fetch(url, g.ctx());
        r.outcome = report::fetched;
      } catch (const goro::canceled_error&) {
        r.outcome = report::cancelled;
        reports.send(std::move(r));
        throw;  // a later error than the first: the group ignores it
      } catch (...) {
        reports.send(std::move(r));
        throw;  // the group's first error, if no other came before it
      }
      reports.send(std::move(r));
    };

    std::deque<std::string> pending{"/"};
    std::set<std::string> seen{"/"};
    int in_flight = 0;  // started fetches whose report has not come yet
    for (;;) {
      while (!pending.empty() && !g.ctx().err()) {
        if (in_flight == 0) g.go(fetch_one, pending.front());  // parks until a slot frees
        else if (!g.try_go(fetch_one, pending.front())) break;  // at the limit: take a report first
        pending.pop_front();
        ++in_flight;
      }
      if (in_flight == 0) break;
      report r = *reports.recv();
      --in_flight;
      if (r.outcome == report::cancelled) cancelled.push_back(r.url);
      if (r.outcome != report::fetched) continue;
      fetched.push_back(r.url);
      for (const auto& link : r.links)
        if (seen.insert(link).second) pending.push_back(link);
    }
    not_started = pending.size();
    try {
      g.wait();
    } catch (const std::exception& e) {
      first_error = e.what();
    }
    // A group goroutine's last step is wait_group's done(); the goroutine
    // itself ends just after. Let the last of them finish before counting.
    while (goro::num_goroutines() > 1) goro::yield();
    left = goro::num_goroutines();
  });
  std::printf("crawled a %zu-page web from /, at most %d fetches at once\n", web.size(), limit);
  std::printf("fetched %zu page(s):%s\n", fetched.size(), joined(fetched).c_str());
  std::printf("first error: %s\n", first_error.c_str());
  std::printf("cancelled in flight: %zu fetch(es) ended with goro::canceled_error:%s\n", cancelled.size(),
              joined(cancelled).c_str());
  std::printf("not started after the error: %zu page(s)\n", not_started);
  std::printf("goroutines left: %zu (main)\n", left);
  return left == 1 && !cancelled.empty() && first_error != "(none)" ? 0 : 1;
}
