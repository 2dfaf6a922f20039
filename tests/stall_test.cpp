// Stall reports ($GORO_DEBUG=stalls=MS, docs/reference.md, "Diagnostics"):
// a goroutine that runs MS ms without a scheduling point is reported once per
// stall, with its label and the spinning function on the stack; a program
// whose goroutines block (or make goro calls) prints nothing.
//
// GORO_DEBUG is read when a runtime starts and the handler is per process, so
// each scenario runs in a child: this executable again, running one hidden
// test case ("[.]") with GORO_DEBUG set, its stderr on a pipe. The parent
// checks that stderr. Threaded mode only.
#include "goro.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <regex>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;

// The threshold the children run with, and how long the spinner spins: five
// times that, so that the report (due after the threshold plus a sysmon round
// or two) comes well within the spin. A wall-clock deadline: the spinning is
// the behaviour under test, not synchronisation.
static constexpr int stall_ms = 100;
static constexpr auto spin_for = std::chrono::milliseconds(5 * stall_ms);

// spin_without_yield_for_test runs for d without any goro call.
__attribute__((noinline)) void spin_without_yield_for_test(std::chrono::milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) asm volatile("" ::: "memory");
}

namespace {

unsigned child_procs() {
  const char* s = std::getenv("STALL_TEST_PROCS");
  return s != nullptr ? static_cast<unsigned>(std::atoi(s)) : 1u;
}

// run_child runs this executable's hidden test case `name` with
// GORO_DEBUG=stalls=<stall_ms> and STALL_TEST_PROCS=procs; returns its stderr.
std::string run_child(const std::string& name, unsigned procs, int* status) {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  REQUIRE(n > 0);
  exe[n] = '\0';
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "GORO_DEBUG=", 11) != 0 && std::strncmp(*e, "STALL_TEST_PROCS=", 17) != 0) env_s.emplace_back(*e);
  env_s.push_back("GORO_DEBUG=stalls=" + std::to_string(stall_ms));
  env_s.push_back("STALL_TEST_PROCS=" + std::to_string(procs));
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = exe;
  std::vector<char*> argv{arg0.data(), name.empty() ? nullptr : const_cast<char*>(name.c_str()), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe, &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  REQUIRE(rc == 0);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fds[0]);
  while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

// report_lines: the first lines of stall reports in text.
std::vector<std::string> report_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (line.rfind("goro: goroutine ", 0) == 0) out.push_back(line);
    pos = nl + 1;
  }
  return out;
}

}  // namespace

// --- the children (hidden: run only by name, from the parents below) ---

TEST_CASE("stall child: a goroutine spins twice", "[.][stall_child]") {
  goro::run(
      [] {
        goro::wait_group wg;
        wg.go([] {
          goro::this_goroutine::set_label("spinner");
          spin_without_yield_for_test(spin_for);
          goro::yield();  // a scheduling point: the next spin is a new stall
          spin_without_yield_for_test(spin_for);
        });
        wg.wait();
      },
      goro::config{.procs = child_procs()});
}

TEST_CASE("stall child: goroutines that block or make goro calls", "[.][stall_child]") {
  goro::run(
      [] {
        const auto until = std::chrono::steady_clock::now() + spin_for;
        goro::wait_group wg;
        goro::chan<int> ping, pong;
        goro::mutex mu;
        long shared = 0;
        wg.go([&] {  // ping-pong partners: always parked or readied, never running long
          for (int v : ping) {
            std::lock_guard<goro::mutex> lk(mu);
            shared += v;
            pong.send(v);
          }
          pong.close();
        });
        wg.go([&] {
          while (std::chrono::steady_clock::now() < until) {
            ping.send(1);
            pong.recv();
            goro::sleep_for(1ms);
          }
          ping.close();
        });
        wg.go([&] {  // polls without parking: its goro calls are scheduling points
          goro::this_goroutine::set_label("poller");
          goro::chan<int> never(1);
          while (std::chrono::steady_clock::now() < until) (void)never.try_recv();
        });
        wg.wait();
      },
      goro::config{.procs = child_procs()});
}

namespace {
std::atomic<int> user_sigurgs{0};
}

TEST_CASE("stall child: the program's own SIGURG handler", "[.][stall_child]") {
  // Installed before goro's: it must get the program's SIGURG, and none of
  // the ones goro sends for the stall.
  struct sigaction sa {};
  sa.sa_handler = [](int) { user_sigurgs.fetch_add(1); };
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGURG, &sa, nullptr);
  goro::run(
      [] {
        goro::wait_group wg;
        wg.go([] {
          spin_without_yield_for_test(spin_for);
          ::raise(SIGURG);
        });
        wg.wait();
      },
      goro::config{.procs = child_procs()});
  std::string line = "user handler: " + std::to_string(user_sigurgs.load()) + "\n";
  goro::detail::write_err(line.c_str(), line.size());
}

// --- the tests ---

TEST_CASE("stall: a spinning goroutine is reported once per stall", "[stall]") {
  auto procs = GENERATE(1u, 2u);
  int status = 0;
  std::string err = run_child("stall child: a goroutine spins twice", procs, &status);
  INFO("procs " << procs << ", the child's stderr:\n" << err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::vector<std::string> lines = report_lines(err);
  // Two stalls, with a scheduling point between them: one report each.
  REQUIRE(lines.size() == 2);
  std::regex first(R"(goro: goroutine (\d+) ran (\d+) ms without a scheduling point \(created at .*stall_test\.cpp:\d+\) label: spinner)");
  std::smatch m0, m1;
  REQUIRE(std::regex_match(lines[0], m0, first));
  REQUIRE(std::regex_match(lines[1], m1, first));
  CHECK(m0[1] == m1[1]);  // the same goroutine
  CHECK(std::stoi(m0[2]) >= stall_ms);
  CHECK(std::stoi(m0[2]) < 5 * stall_ms);
#if GORO_TSAN
  // TSan holds the signal until the thread makes an intercepted call: the
  // report may come without the stack.
#else
  // The stack names the spinning function, in both reports.
  std::size_t at = err.find("spin_without_yield_for_test");
  REQUIRE(at != std::string::npos);
  CHECK(err.find("spin_without_yield_for_test", err.find(lines[1])) != std::string::npos);
  CHECK(err.find("(no stack") == std::string::npos);
  CHECK(err.find("stall_handler") == std::string::npos);  // the handler's frames are cut off
#endif
}

TEST_CASE("stall: goroutines that block or make goro calls are not reported", "[stall]") {
  auto procs = GENERATE(1u, 2u);
  int status = 0;
  std::string err = run_child("stall child: goroutines that block or make goro calls", procs, &status);
  INFO("procs " << procs << ", the child's stderr:\n" << err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(err.empty());
}

TEST_CASE("stall: SIGURGs goro did not send reach the program's handler", "[stall]") {
  int status = 0;
  std::string err = run_child("stall child: the program's own SIGURG handler", 1, &status);
  INFO("the child's stderr:\n" << err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(report_lines(err).size() == 1);
  CHECK(err.find("user handler: 1\n") != std::string::npos);
}
