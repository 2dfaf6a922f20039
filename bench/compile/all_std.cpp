// bench/compile_time's "every public type" with the standard library: the
// same program shape as all_goro.cpp with threads, the standard sync types,
// futures, stop tokens, and POSIX sockets for the loopback echo.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <latch>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>

int main() {
  std::mutex mu;
  std::shared_mutex rw;
  std::condition_variable cv;
  std::once_flag once;
  std::counting_semaphore<2> sem(2);
  std::latch done(1);
  int shared = 0;
  bool ready = false;

  std::thread w([&] {
    std::lock_guard lk(mu);
    ready = true;
    cv.notify_all();
  });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return ready; });
  }
  std::call_once(once, [&] { ++shared; });
  { std::shared_lock lk(rw); }
  sem.acquire();
  sem.release();
  std::promise<int> p;
  std::future<int> f = p.get_future();
  std::thread sender([&p] { p.set_value(1); });
  int picked = f.get();
  auto a = std::async(std::launch::async, [] { return std::string("x"); });
  std::string name = a.get();
  w.join();
  sender.join();

  std::this_thread::sleep_for(std::chrono::microseconds(10));
  std::this_thread::sleep_until(std::chrono::steady_clock::now() + std::chrono::microseconds(10));
  std::stop_source src;
  std::jthread worker([](std::stop_token st) {
    while (!st.stop_requested()) std::this_thread::yield();
  });
  worker.request_stop();
  src.request_stop();
  done.count_down();
  done.wait();

  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(ls, 8);
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread server([ls] {
    int s = ::accept(ls, nullptr, nullptr);
    char buf[8];
    ssize_t n = ::read(s, buf, sizeof buf);
    if (n > 0) (void)!::write(s, buf, static_cast<std::size_t>(n));
    ::close(s);
  });
  int cl = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(cl, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  (void)!::write(cl, "ping", 4);
  char back[4];
  (void)!::read(cl, back, sizeof back);
  server.join();
  ::close(cl);
  ::close(ls);
  std::printf("%d %s %d\n", picked, name.c_str(), shared);
  return 0;
}
