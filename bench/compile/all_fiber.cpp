// bench/compile_time's "every public type" with Boost.Fiber: the same program
// shape as all_goro.cpp with fibers, channels, the fiber sync types, futures,
// and POSIX sockets for the loopback echo.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <string>

int main() {
  boost::fibers::mutex mu;
  boost::fibers::condition_variable cv;
  boost::fibers::barrier bar(2);
  boost::fibers::buffered_channel<int> c(4);
  boost::fibers::unbuffered_channel<std::string> names;
  bool ready = false;

  boost::fibers::fiber w([&] {
    std::lock_guard lk(mu);
    ready = true;
    cv.notify_all();
  });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return ready; });
  }
  boost::fibers::fiber s1([&c] { c.push(1); });
  boost::fibers::fiber s2([&names] { names.push("x"); });
  int picked = 0;
  c.pop(picked);
  std::string name;
  names.pop(name);
  boost::fibers::promise<int> p;
  boost::fibers::future<int> f = p.get_future();
  boost::fibers::fiber s3([&p] { p.set_value(1); });
  picked += f.get();
  auto a = boost::fibers::async([] { return 2; });
  picked += a.get();
  boost::fibers::fiber b([&bar] { bar.wait(); });
  bar.wait();
  w.join();
  s1.join();
  s2.join();
  s3.join();
  b.join();
  boost::this_fiber::sleep_for(std::chrono::microseconds(10));
  boost::this_fiber::sleep_until(std::chrono::steady_clock::now() + std::chrono::microseconds(10));
  boost::this_fiber::yield();

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
  std::printf("%d %s\n", picked, name.c_str());
  return 0;
}
