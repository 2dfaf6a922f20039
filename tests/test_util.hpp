// Helpers shared by goro's Catch2 tests.
#pragma once

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <unistd.h>
#include <utility>

#include "goro.hpp"

namespace goro_test {

// scale(n): n scaled by $GORO_TEST_SCALE (default 1): the sanitizer jobs run
// the big tests smaller. Never below 1.
inline long scale(long n) {
  const char* s = std::getenv("GORO_TEST_SCALE");
  double f = s != nullptr ? std::atof(s) : 1.0;
  if (f <= 0) f = 1.0;
  long r = static_cast<long>(static_cast<double>(n) * f);
  return r < 1 ? 1 : r;
}

// full_scale: true in the Release job (big tests such as 1M goroutines run there only).
inline bool full_scale() {
  const char* s = std::getenv("GORO_TEST_SCALE");
  return s == nullptr || std::atof(s) >= 1.0;
}

// same_report_text: a deterministic failure report, reduced to what a replay
// must reproduce word for word: the main goroutine's entry is cut after its
// header (its creation site is where run() or explore() was called, and its
// stack passes through the lambda given to each) and objects' addresses
// become "0x?" (a run's stacks and channels are at other addresses each time:
// docs/design.md, "Deterministic mode").
inline std::string same_report_text(std::string s) {
  std::size_t at = s.find(", main]:\n");
  if (at != std::string::npos) {
    std::size_t created = s.find("\tcreated at ", at);
    std::size_t end = created == std::string::npos ? std::string::npos : s.find('\n', created);
    if (end != std::string::npos) s.erase(at, end - at);
  }
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "0x") == 0) {
      out += "0x?";
      i += 2;
      while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i]))) ++i;
      --i;
      continue;
    }
    out += s[i];
  }
  return out;
}

// without_shrink_note: explore's message without the line shrinking appends
// ("goro: this failure needs k preemption(s) ..."): what a replay of its
// choices reports.
inline std::string without_shrink_note(std::string s) {
  std::size_t at = s.rfind("\ngoro: this failure needs ");
  if (at != std::string::npos) s.erase(at);
  return s;
}

// hex: bytes as GORO_CHOICES spells them.
template <class Bytes>
std::string hex(const Bytes& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// open_fd_count: the file descriptors this process has open (for tests that
// must leave none behind).
inline int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// slow_dtor: a capture or argument whose destructor parks (a 1 ms sleep)
// before it sets *destroyed, so a wait() that returns before the goroutine's
// callable is destroyed sees it false. A moved-from one does nothing.
struct slow_dtor {
  bool* destroyed;
  explicit slow_dtor(bool* d) : destroyed(d) {}
  slow_dtor(slow_dtor&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
  slow_dtor& operator=(slow_dtor&&) = delete;
  ~slow_dtor() {
    if (destroyed == nullptr) return;
    goro::sleep_for(std::chrono::milliseconds(1));
    *destroyed = true;
  }
};

// stderr_capture sends fd 2 to an anonymous temporary file while it lives
// (goro writes its reports with write(2), so they land there); text() restores
// fd 2 and returns what was written. The test thread only.
class stderr_capture {
 public:
  stderr_capture() : file_(std::tmpfile()), saved_(::dup(2)) {
    std::fflush(stderr);
    if (ok()) ::dup2(::fileno(file_), 2);
  }
  ~stderr_capture() { restore(); if (file_ != nullptr) std::fclose(file_); }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;

  bool ok() const { return file_ != nullptr && saved_ >= 0; }

  std::string text() {
    restore();
    std::string out;
    if (file_ == nullptr) return out;
    char buf[4096];
    int fd = ::fileno(file_);
    ::lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

}  // namespace goro_test
