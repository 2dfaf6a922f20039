// Death tests: what must end the process, and with which message
// (docs/reference.md: "Runtime", "Sync", "Blocking system calls").
//
// Catch2 installs its own SIGSEGV handler and sigaltstack, which would replace
// goro's stack-overflow handler, so these are plain programs. `death_test
// <scenario>` forks; the child runs the scenario with its stderr on a pipe; the
// parent checks that the child was killed by SIGABRT and that its stderr
// matches the scenario's pattern, printing what it saw. Exit 0 = as expected.
#include "goro.hpp"

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// Unbounded recursion that the optimizer cannot turn into a loop.
int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  return recurse(depth + 1) + pad[0];
}

// Recursion that writes about `bytes` of stack, then returns.
__attribute__((noinline)) int use_stack(long bytes) {
  volatile char pad[1024];
  for (int i = 0; i < 1024; ++i) pad[i] = 1;
  if (bytes <= 1024) return pad[0];
  return use_stack(bytes - 1024) + pad[0];
}

struct scenario {
  std::function<void()> run;
  const char* pattern;  // ECMAScript regex searched in the child's stderr
};

std::map<std::string, scenario> scenarios() {
  return {
      {"stack_overflow",
       {[] { goro::run([] { goro::go([] { recurse(0); }); goro::sleep_for(std::chrono::hours(1)); }, goro::config{.procs = 2}); },
        R"(fatal error: stack overflow in goroutine \d+ \(stack_size 262144, created at .*death\.cpp:\d+\))"}},
      {"stack_overflow_small",
       {[] {
          goro::run([] { goro::go([] { recurse(0); }); goro::sleep_for(std::chrono::hours(1)); },
                    goro::config{.procs = 1, .stack_size = 16 * 1024});
        },
        R"(fatal error: stack overflow in goroutine \d+ \(stack_size 16384, created at .*death\.cpp:\d+\))"}},
      // Canary stacks (GORO_DEBUG=stackguard=canary): an overflow that returns
      // is caught when the goroutine next switches out.
      {"stack_overflow_canary",
       {[] {
          setenv("GORO_DEBUG", "stackguard=canary", 1);
          goro::run([] { goro::go([] { use_stack(64 * 1024); goro::yield(); }); goro::sleep_for(std::chrono::hours(1)); },
                    goro::config{.procs = 1, .stack_size = 32 * 1024});
        },
        R"(fatal error: stack overflow in goroutine \d+ \(stack_size 32768, created at .*death\.cpp:\d+\))"}},
      {"panic",
       {[] { goro::run([] { goro::go([] { throw std::runtime_error("boom"); }); goro::sleep_for(std::chrono::hours(1)); }); },
        R"(panic: boom\n\ngoroutine \d+ \[running\], created at .*death\.cpp:\d+)"}},
      {"panic_non_std",
       {[] { goro::run([] { goro::go([] { throw 42; }); goro::sleep_for(std::chrono::hours(1)); }); },
        R"(panic: exception of type i\n)"}},
      // Go's fatal errors for sync misuse: unrecoverable, with Go's exact text.
      {"mutex_unlock_unlocked",
       {[] {
          goro::run([] {
            goro::mutex m;
            m.lock();
            m.unlock();
            m.unlock();
          });
        },
        R"(fatal error: sync: unlock of unlocked mutex\n)"}},
      {"mutex_unlock_unlocked_thread",
       {[] {
          goro::mutex m;
          m.unlock();
        },
        R"(fatal error: sync: unlock of unlocked mutex\n)"}},
      {"rwmutex_unlock_unlocked",
       {[] { goro::run([] { goro::shared_mutex m; m.unlock(); }); }, R"(fatal error: sync: Unlock of unlocked RWMutex\n)"}},
      {"rwmutex_runlock_unlocked",
       {[] {
          goro::run([] {
            goro::shared_mutex m;
            m.lock_shared();
            m.unlock_shared();
            m.unlock_shared();
          });
        },
        R"(fatal error: sync: RUnlock of unlocked RWMutex\n)"}},
      {"rwmutex_runlock_while_locked",
       {[] { goro::run([] { goro::shared_mutex m; m.lock(); m.unlock_shared(); }); }, R"(fatal error: sync: RUnlock of unlocked RWMutex\n)"}},
      // More Ms than config::max_threads (goroutines blocked in handoff_now
      // calls each hold one): Go's thread-exhaustion fatal error.
      {"thread_exhaustion",
       {[] {
          goro::run(
              [] {
                for (int i = 0; i < 16; ++i)
                  goro::go([] {
                    goro::blocking<goro::handoff_now> guard;
                    sleep(5);
                  });
                goro::sleep_for(std::chrono::seconds(30));
              },
              goro::config{.procs = 1, .max_threads = 4});
        },
        R"(runtime: program exceeds 4-thread limit\nfatal error: thread exhaustion\n)"}},
      // The same cap reached through handoff_lazy: each P is retaken by
      // sysmon from the M sleeping inside block() and handed to a new M.
      {"thread_exhaustion_lazy",
       {[] {
          goro::run(
              [] {
                for (int i = 0; i < 16; ++i) goro::go([] { goro::block([] { sleep(5); }); });
                goro::sleep_for(std::chrono::seconds(30));
              },
              goro::config{.procs = 1, .max_threads = 4});
        },
        R"(runtime: program exceeds 4-thread limit\nfatal error: thread exhaustion\n)"}},
#if GORO_DETAIL_DCHECKS
      // The runtime's invariant checks (docs/design.md, "Invariants and memory
      // orders"), on in the asan and tsan builds: readying a goroutine that is
      // running, not parked, breaks the G status table.
      {"dcheck_ready_running",
       {[] { goro::run([] { goro::detail::ready(goro::detail::getg()); }); },
        R"(fatal error: runtime invariant violated: ready: the goroutine is not waiting)"}},
      // A _locked function called without its lock.
      {"dcheck_lock_not_held",
       {[] {
          goro::run([] {
            goro::detail::sched_t* s = goro::detail::current_sched();
            goro::detail::p* pp = goro::detail::pidleget_locked(s);
            (void)pp;
          });
        },
        R"(fatal error: runtime invariant violated: pidleget_locked: sched.lock not held)"}},
#endif
      {"panic_default_runtime",
       {[] {
          goro::go([] { throw std::logic_error("from the default runtime"); });
          sleep(60);
        },
        R"(panic: from the default runtime\n)"}},
  };
}

}  // namespace

int main(int argc, char** argv) {
  auto all = scenarios();
  // mixed_modes <program>: a program whose TUs disagree on the mode must abort
  // before main, naming both modes.
  all["mixed_modes"] = scenario{[argv] { execl(argv[2], argv[2], static_cast<char*>(nullptr)); },
                                R"(goro: translation units built in different modes in one executable: (threaded\S* and deterministic\S*|deterministic\S* and threaded\S*))"};
  if (argc < 2 || all.count(argv[1]) == 0 || (std::string(argv[1]) == "mixed_modes" && argc != 3)) {
    std::fprintf(stderr, "usage: death_test <scenario>; scenarios:");
    for (auto& [name, s] : all) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  const scenario& sc = all.at(argv[1]);
  int fds[2];
  if (pipe(fds) != 0) return 3;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    alarm(60);  // a scenario that hangs instead of dying fails by SIGALRM
    sc.run();
    std::fprintf(stderr, "death_test: scenario returned\n");
    _exit(0);
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  waitpid(pid, &status, 0);
  std::printf("child stderr:\n%s\n", err.c_str());
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
    std::printf("FAIL: expected death by SIGABRT, got %s %d\n", WIFSIGNALED(status) ? "signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return 1;
  }
  if (!std::regex_search(err, std::regex(sc.pattern))) {
    std::printf("FAIL: stderr does not match /%s/\n", sc.pattern);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
