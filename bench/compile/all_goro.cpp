// bench/compile_time's "every public type": one TU that uses each of goro's
// public types and functions once (runtime, channels, select, sync, time,
// context, semaphore, errgroup, blocking calls, sockets, diagnostics).
// bench/compile_time compiles it as is (the drop-in default) and with
// -DGORO_SPLIT (split compilation: goro's compiled part lives elsewhere).
#include "goro.hpp"

#include <cstdio>
#include <shared_mutex>
#include <string>
#include <unistd.h>

int main() {
  int errors = 0;
  goro::run([&] {
    goro::chan<int> c(4);
    goro::chan<std::string> names;
    goro::wait_group wg;
    goro::mutex mu;
    goro::shared_mutex rw;
    goro::condition_variable cv;
    goro::once_flag once;
    goro::semaphore sem(2);
    int shared = 0;
    bool ready = false;

    wg.go([&] {
      std::lock_guard lk(mu);
      ready = true;
      cv.notify_all();
    });
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return ready; });
    }
    goro::call_once(once, [&] { ++shared; });
    { std::shared_lock lk(rw); }
    sem.acquire();
    sem.release();
    goro::go([c] { c.send(1); });
    goro::go([names] { names.send("x"); });
    int picked = 0;
    goro::select(goro::recv_case(c, [&](std::optional<int> v) { picked = v.value_or(0); }),
                 goro::recv_case(names, [&](std::optional<std::string>) { picked = 2; }));
    goro::select(goro::recv_case(c, [](auto) {}), goro::recv_case(names, [](auto) {}));
    goro::select(goro::send_case(c, 3, [] {}), goro::default_case([] {}));
    wg.wait();

    goro::sleep_for(std::chrono::microseconds(10));
    goro::sleep_until(goro::now() + std::chrono::microseconds(10));
    goro::timer t(std::chrono::milliseconds(1));
    t.c().recv();
    goro::ticker tk(std::chrono::milliseconds(1));
    tk.c().recv();
    tk.stop();
    goro::after(std::chrono::microseconds(1)).recv();

    auto [ctx, cancel] = goro::with_cancel(goro::context());
    auto [tctx, tcancel] = goro::with_timeout(ctx, std::chrono::seconds(5));
    cancel();
    ctx.done().recv();
    if (!ctx.err()) ++errors;
    tcancel();

    goro::errgroup g;
    g.set_limit(2);
    g.go([] {});
    g.wait();

    int fds[2];
    if (::pipe(fds) == 0) {
      goro::blocking<goro::handoff_now> guard;
      ::close(fds[0]);
      ::close(fds[1]);
    }
    goro::block([] { return 0; });

    goro::net::listener ln = goro::net::listen("127.0.0.1:0");
    goro::go([&ln] {
      goro::net::conn s = ln.accept();
      char buf[8];
      std::size_t n = s.read(std::as_writable_bytes(std::span(buf)));
      s.write(std::as_bytes(std::span(buf, n)));
    });
    goro::net::conn cl = goro::net::dial(ln.addr());
    cl.write(std::as_bytes(std::span("ping", 4)));
    char back[4];
    cl.read(std::as_writable_bytes(std::span(back)));
    goro::net::packet_conn pc = goro::net::listen_packet("127.0.0.1:0");
    pc.close();

    goro::this_goroutine::set_label("all");
    std::printf("%llu %s %zu %u\n", static_cast<unsigned long long>(goro::this_goroutine::id()),
                goro::this_goroutine::label().c_str(), goro::num_goroutines(), goro::procs());
    goro::debug::sched_stats st = goro::debug::stats();
    (void)st;
    (void)goro::debug::dump();
    goro::yield();
    (void)picked;
  });
  return errors;
}
