// goro/traceback.hpp — stack tracebacks for goro's reports (Go: traceback.go):
// capturing a stack's return addresses, symbolizing them at report time, and
// picking out the program's own frames.
//
//   capture_traceback(tb)      the caller's stack as return addresses (call
//                              sites): async-signal-safe, no allocation, no lock
//   symbolize(pcs, n)          frames (function, file, line), inline chains
//                              expanded, innermost first; allocates, spawns
//   frame_is_user(f)           not goro's, not the standard library's, not the
//                              C runtime's start-up frames
//   format_blocked(out, tb)    "\tblocked at file:line (function)" and the few
//                              user frames above it, for a dump entry
//   append_go_frame(out, f)    one frame, Go's dump style (stall reports)
//
// Capture. _Unwind_Backtrace (libgcc, <unwind.h>) walks the DWARF CFI of the
// current stack only; each frame's address is stored already adjusted to
// point into the call instruction (return address - 1, except for a frame
// interrupted by a signal, whose IP is exact: _Unwind_GetIPInfo says which),
// so that a symbolizer names the call's line, not the next one. It is
// async-signal-safe on this toolchain: libgcc finds FDEs through glibc's
// _dl_find_object (glibc >= 2.35, GCC >= 12: lock-free, no allocation), and
// the one-time initialization (a pthread_once for the register-size table)
// is done by traceback_warm_up(), which a signal-handling caller runs once
// before installing its handler. It never allocates and takes no lock; it
// writes into the caller's fixed array.
//
// Symbolization runs at report time only, on any thread (a goroutine, sysmon,
// a plain thread). Addresses are grouped by object (dladdr); an ET_DYN object
// (a PIE executable, a shared library) is given addresses relative to its load
// base (dli_fbase), an ET_EXEC one absolute addresses. Each group goes to one
// `addr2line -C -f -i -a -e <object> <addrs...>` started with posix_spawnp
// (no shell; no fork, which would copy a process with many threads and
// mappings) with its stdout on a pipe (llvm-symbolizer in the same output
// style is preferred when present: see run_addr2line). Where addr2line is missing or knows
// nothing, dladdr's exported symbol, demangled, as `function+0xoff`, stands
// in; symbolize_degraded() then says so, and reports print
// "(no debug info: function+offset)" once. Results are cached per address.
#ifndef GORO_DETAIL_TRACEBACK_HPP
#define GORO_DETAIL_TRACEBACK_HPP

#include "config.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <mutex>
#include <spawn.h>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_map>
#include <unwind.h>
#include <vector>

extern char** environ;

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// traceback_depth: frames kept per capture. 24 reaches the user's frames
// through goro's own (park, the sync or channel operation, the scheduling
// point: up to ten frames in a Debug build) with room for a few callers.
inline constexpr std::size_t traceback_depth = 24;

// traceback: a captured stack, innermost first. pc[i] is an address inside
// the call instruction of frame i (see the top of the file). Plain data:
// copied, stored in a g, written in a signal handler.
struct traceback {
  std::uintptr_t pc[traceback_depth];
  std::uint32_t n = 0;
};

struct traceback_walk {
  traceback* tb;
  std::uint32_t skip;
};

inline _Unwind_Reason_Code traceback_step(struct _Unwind_Context* ctx, void* arg) noexcept {
  auto* w = static_cast<traceback_walk*>(arg);
  int before = 0;
  std::uintptr_t ip = _Unwind_GetIPInfo(ctx, &before);
  if (ip == 0) return _URC_END_OF_STACK;
  if (w->skip > 0) {
    --w->skip;
    return _URC_NO_REASON;
  }
  if (!before) --ip;  // a return address: point into the call
  w->tb->pc[w->tb->n++] = ip;
  return w->tb->n == traceback_depth ? _URC_END_OF_STACK : _URC_NO_REASON;
}

// capture_traceback fills tb with the caller's stack, innermost first (the
// caller's own frame is pc[0]), skipping `skip` more frames. Any thread or
// goroutine, any state; async-signal-safe once traceback_warm_up() has run
// (see the top of the file). Costs about a microsecond per dozen frames.
GORO_DETAIL_NOINLINE inline void capture_traceback(traceback& tb, std::uint32_t skip = 0) noexcept {
  tb.n = 0;
  traceback_walk w{&tb, skip + 1};  // + 1: this function's own frame
  _Unwind_Backtrace(traceback_step, &w);
}

// traceback_warm_up runs the unwinder's one-time initialization. Call it
// once, outside any signal handler, before capturing from one.
inline void traceback_warm_up() noexcept {
  traceback tb;
  capture_traceback(tb);
}

// tracebacks_on: $GORO_DEBUG=tracebacks=1, read at each runtime's start-up
// (run.hpp). Threaded mode captures each park's stack only when it is set
// (deterministic mode captures lazily at report time, always). Relaxed: a
// flag that changes only between runs, read on the park path as a hint.
inline std::atomic<bool> tracebacks_on{false};

// frame: one symbolized frame. An inlined call gives several frames for one
// address (inline = true on all but the outermost).
struct frame {
  std::uintptr_t pc = 0;
  std::string function;  // demangled; "??" when unknown
  std::string file;      // "" when unknown
  unsigned line = 0;
  std::string object;    // the object file's path
  bool inlined = false;
  bool exact = false;    // file and line come from debug info
};

// symbolizer_state: the per-address cache and the degraded-mode flag, shared
// by every runtime of the process. Guarded by mu.
struct symbolizer_state {
  std::mutex mu;
  std::unordered_map<std::uintptr_t, std::vector<frame>> cache;
  bool degraded = false;   // some frame lacked file:line (see symbolize_degraded)
  int tool = -1;           // the symbolizer that works: -1 not tried yet, 0 none, 1 llvm-symbolizer, 2 addr2line
};

#if GORO_DETAIL_DEFINE_COMPILED
GORO_DETAIL_COMPILED symbolizer_state& symbolizer() {
  static symbolizer_state* st = new symbolizer_state;  // never destroyed: reports may come during exit
  return *st;
}

// self_exe: the running executable's path (dladdr names it by argv[0]).
GORO_DETAIL_COMPILED std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// shorten_path: file relative to the working directory (as it was at the
// first report) when it lies below it: debug info and CMake's __FILE__ name
// files by absolute path. Any thread, no lock.
GORO_DETAIL_COMPILED std::string_view shorten_path(std::string_view file) {
  static const std::string cwd = [] {
    char buf[4096];
    return ::getcwd(buf, sizeof buf) != nullptr && buf[1] != '\0' ? std::string(buf) + "/" : std::string();
  }();
  if (!cwd.empty() && file.size() > cwd.size() && file.substr(0, cwd.size()) == cwd) file.remove_prefix(cwd.size());
  return file;
}

// append_site: a goroutine's creation site, "file:line", shortened as frames are.
GORO_DETAIL_COMPILED void append_site(std::string& out, const source_loc& site) {
  out += shorten_path(site.file != nullptr ? site.file : "??");
  out += ':';
  out += std::to_string(site.line);
}

GORO_DETAIL_COMPILED std::string demangle(const char* sym) {
  int status = 0;
  char* d = abi::__cxa_demangle(sym, nullptr, nullptr, &status);
  if (d == nullptr) return sym;
  std::string s(d);
  std::free(d);
  return s;
}

// run_addr2line: frames for addrs (relative to obj as addr2line wants them),
// indexed like addrs; false if the tool could not be run. tool 1:
// llvm-symbolizer in addr2line's output style, tried first (binutils 2.40's
// addr2line names the wrong file for some lines of DWARF 5, GCC 12's
// default: a line of goro.hpp as one of the program's); tool 2: addr2line.
GORO_DETAIL_COMPILED bool run_addr2line(int tool, const std::string& obj, const std::vector<std::uintptr_t>& addrs,
                                        std::vector<std::vector<frame>>& out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  std::vector<std::string> args;
  if (tool == 1) args = {"llvm-symbolizer", "--output-style=GNU", "-a", "-C", "-f", "-i", "-e", obj};
  else args = {"addr2line", "-C", "-f", "-i", "-a", "-e", obj};
  char hex[32];
  for (std::uintptr_t a : addrs) {
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(a));
    args.emplace_back(hex);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return false;
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    text.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fds[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return false;
  // Output: per address "0x<addr>" then (function, file:line) pairs, the
  // innermost inlined one first, the real frame last.
  out.assign(addrs.size(), {});
  std::size_t idx = static_cast<std::size_t>(-1);
  std::size_t pos = 0;
  std::vector<std::string_view> lines;
  std::string_view all(text);
  while (pos < all.size()) {
    std::size_t nl = all.find('\n', pos);
    if (nl == std::string_view::npos) nl = all.size();
    lines.push_back(all.substr(pos, nl - pos));
    pos = nl + 1;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (l.size() > 2 && l[0] == '0' && l[1] == 'x' && l.find_first_not_of("0123456789abcdef", 2) == std::string_view::npos) {
      ++idx;
      continue;
    }
    if (idx >= out.size() || i + 1 >= lines.size()) break;
    frame f;
    f.pc = addrs[idx];
    f.function = std::string(l);
    std::string_view loc = lines[++i];
    std::size_t colon = loc.rfind(':');
    std::string_view file = colon == std::string_view::npos ? loc : loc.substr(0, colon);
    unsigned line = 0;
    if (colon != std::string_view::npos)
      for (char ch : loc.substr(colon + 1)) {
        if (ch < '0' || ch > '9') break;
        line = line * 10 + static_cast<unsigned>(ch - '0');
      }
    if (file != "??" && line != 0) {
      f.file = std::string(shorten_path(file));
      f.line = line;
      f.exact = true;
    }
    f.object = obj;
    out[idx].push_back(std::move(f));
  }
  for (auto& chain : out)
    for (std::size_t k = 0; k + 1 < chain.size(); ++k) chain[k].inlined = true;
  return true;
}

// dladdr_frame: the fallback: dladdr's symbol as function+0xoff.
GORO_DETAIL_COMPILED frame dladdr_frame(std::uintptr_t pc, const Dl_info& info, bool ok, const std::string& obj) {
  frame f;
  f.pc = pc;
  f.object = obj;
  char off[32];
  if (ok && info.dli_sname != nullptr) {
    std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(pc - reinterpret_cast<std::uintptr_t>(info.dli_saddr)));
    f.function = demangle(info.dli_sname) + off;
  } else if (ok) {
    std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(pc - reinterpret_cast<std::uintptr_t>(info.dli_fbase)));
    std::string_view base(obj);
    if (std::size_t sl = base.rfind('/'); sl != std::string_view::npos) base.remove_prefix(sl + 1);
    f.function = std::string(base) + off;
  } else {
    std::snprintf(off, sizeof off, "0x%llx", static_cast<unsigned long long>(pc));
    f.function = off;
  }
  return f;
}

// symbolize: the frames of pcs[0..n), innermost first, each address's inline
// chain expanded. Any thread; never in a signal handler. Takes the
// symbolizer's lock and may run addr2line (milliseconds, once per new object
// and batch of addresses).
GORO_DETAIL_COMPILED std::vector<frame> symbolize(const std::uintptr_t* pcs, std::size_t n) {
  symbolizer_state& st = symbolizer();
  std::lock_guard<std::mutex> lk(st.mu);
  // Group the addresses not yet cached by object.
  struct group {
    std::string obj;
    std::vector<std::uintptr_t> pcs, rel;
  };
  std::vector<group> groups;
  for (std::size_t i = 0; i < n; ++i) {
    std::uintptr_t pc = pcs[i];
    if (st.cache.count(pc) != 0) continue;
    Dl_info info{};
    bool ok = ::dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_fbase != nullptr;
    std::string obj = ok && info.dli_fname != nullptr ? info.dli_fname : "";
    if (ok && obj.rfind("linux-vdso", 0) == 0) {  // the vDSO has no file for addr2line: its exported symbol
      st.cache[pc] = {dladdr_frame(pc, info, ok, obj)};
      continue;
    }
    if (ok && (obj.empty() || obj[0] != '/')) obj = self_exe();
    if (!ok || obj.empty() || st.tool == 0) {
      st.cache[pc] = {dladdr_frame(pc, info, ok, obj)};
      continue;
    }
    std::uintptr_t base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
    std::uintptr_t rel = eh->e_type == ET_DYN ? pc - base : pc;
    group* gr = nullptr;
    for (group& x : groups)
      if (x.obj == obj) gr = &x;
    if (gr == nullptr) {
      groups.push_back(group{obj, {}, {}});
      gr = &groups.back();
    }
    bool dup = false;
    for (std::uintptr_t x : gr->pcs) dup |= x == pc;
    if (dup) continue;
    gr->pcs.push_back(pc);
    gr->rel.push_back(rel);
    st.cache[pc] = {dladdr_frame(pc, info, ok, obj)};  // replaced below if addr2line knows better
  }
  for (group& gr : groups) {
    std::vector<std::vector<frame>> res;
    bool ran = false;
    if (st.tool == -1) {
      for (int tool = 1; tool <= 2 && !ran; ++tool)
        if ((ran = run_addr2line(tool, gr.obj, gr.rel, res))) st.tool = tool;
      if (!ran) st.tool = 0;
    } else if (st.tool != 0) {
      ran = run_addr2line(st.tool, gr.obj, gr.rel, res);
    }
    if (!ran) continue;
    for (std::size_t i = 0; i < gr.pcs.size(); ++i) {
      std::vector<frame>& chain = res[i];
      if (chain.empty()) continue;
      for (frame& f : chain) f.pc = gr.pcs[i];
      frame& outer = chain.back();
      if (outer.function == "??") {
        // addr2line knows no symbol either: keep dladdr's, if it had one.
        const frame& fb = st.cache[gr.pcs[i]].front();
        if (!outer.exact) continue;
        outer.function = fb.function;
      }
      st.cache[gr.pcs[i]] = std::move(chain);
    }
  }
  std::vector<frame> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::vector<frame>& chain = st.cache[pcs[i]];
    out.insert(out.end(), chain.begin(), chain.end());
  }
  return out;
}

// symbolize_degraded: did some frame symbolized so far lack file:line while
// naming a user function (no -g, or no addr2line)? Reports then say
// "(no debug info: function+offset)" once.
GORO_DETAIL_COMPILED bool symbolize_degraded() {
  symbolizer_state& st = symbolizer();
  std::lock_guard<std::mutex> lk(st.mu);
  return st.degraded;
}

GORO_DETAIL_COMPILED bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
GORO_DETAIL_COMPILED bool starts_with(std::string_view s, std::string_view prefix) noexcept { return s.substr(0, prefix.size()) == prefix; }

// frame_is_user: is f the program's own code? Not goro's (a file named
// goro.hpp or under an include/goro/ directory, or a function in namespace
// goro), not the standard library's (a file under a c++/ include directory,
// a function in std:: or __gnu_cxx::), not the C runtime's or a sanitizer's
// (their objects, the start-up functions).
GORO_DETAIL_COMPILED bool frame_is_user(const frame& f) noexcept {
  std::string_view file(f.file), fn(f.function), obj(f.object);
  std::string_view base = obj;
  if (std::size_t sl = base.rfind('/'); sl != std::string_view::npos) base.remove_prefix(sl + 1);
  if (starts_with(base, "libc.so") || starts_with(base, "libc-") || starts_with(base, "libgcc_s") || starts_with(base, "libstdc++") ||
      starts_with(base, "ld-linux") || starts_with(base, "libasan") || starts_with(base, "libtsan") || starts_with(base, "libubsan") ||
      starts_with(base, "libclang_rt"))
    return false;
  if (f.exact) {
    // The file decides (an inlined lambda's line may come with its caller's
    // name, a goro template's).
    if (file == "goro.hpp" || ends_with(file, "/goro.hpp") || file.find("include/goro/") != std::string_view::npos) return false;
    return file.find("/c++/") == std::string_view::npos;
  }
  if (starts_with(fn, "goro::") || starts_with(fn, "std::") || starts_with(fn, "__gnu_cxx::")) return false;
  // "void goro::..." and the like: demangled templates may start with the return type.
  if (fn.find(" goro::") != std::string_view::npos && fn.find('(') > fn.find(" goro::")) return false;
  if (fn.find(" std::") != std::string_view::npos && fn.find('(') > fn.find(" std::")) return false;
  if (starts_with(fn, "_start") || starts_with(fn, "__libc_start") || starts_with(fn, "start_thread") || starts_with(fn, "clone") ||
      starts_with(fn, "goro_detail_") || starts_with(fn, "_Unwind_") || starts_with(fn, "__tsan") || starts_with(fn, "__asan") ||
      starts_with(fn, "__interceptor"))
    return false;
  return true;
}

// append_file_line: "file:line", or "??" without debug info.
GORO_DETAIL_COMPILED void append_file_line(std::string& out, const frame& f) {
  if (!f.exact) {
    out += "??";
    return;
  }
  out += f.file;
  out += ':';
  char buf[24];
  out += fmt_u64(buf, f.line);
}

// append_frame_location: "file:line (function)", or "?? (function+0xoff)"
// without debug info (marking the symbolizer degraded).
GORO_DETAIL_COMPILED void append_frame_location(std::string& out, const frame& f) {
  append_file_line(out, f);
  if (!f.exact) {
    symbolizer_state& st = symbolizer();
    std::lock_guard<std::mutex> lk(st.mu);
    st.degraded = true;
  }
  out += " (";
  out += f.function;
  out += ')';
}

// append_go_frame: one frame of a stack in Go's dump style,
// "\t<function>\n\t\t<file>:<line>\n" ("??" for the location without debug info).
GORO_DETAIL_COMPILED void append_go_frame(std::string& out, const frame& f) {
  out += '\t';
  out += f.function;
  out += "\n\t\t";
  append_file_line(out, f);
  out += '\n';
}
#else
GORO_DETAIL_COMPILED symbolizer_state& symbolizer();
GORO_DETAIL_COMPILED void append_site(std::string& out, const source_loc& site);
GORO_DETAIL_COMPILED bool run_addr2line(int tool, const std::string& obj, const std::vector<std::uintptr_t>& addrs,
                                        std::vector<std::vector<frame>>& out);
GORO_DETAIL_COMPILED std::vector<frame> symbolize(const std::uintptr_t* pcs, std::size_t n);
GORO_DETAIL_COMPILED bool symbolize_degraded();
GORO_DETAIL_COMPILED bool frame_is_user(const frame& f) noexcept;
GORO_DETAIL_COMPILED void append_frame_location(std::string& out, const frame& f);
GORO_DETAIL_COMPILED void append_go_frame(std::string& out, const frame& f);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// traceback_callers: how many user frames above the blocking one a dump
// entry shows.
inline constexpr int traceback_callers = 4;

#if GORO_DETAIL_DEFINE_COMPILED
// format_blocked appends, for a stack captured where a goroutine blocked:
//   "\tblocked at <file>:<line> (<function>)\n" for the innermost user frame
// and then, Go-style, each of up to `callers` user frames above it:
//   "\t<function>\n\t\t<file>:<line>\n"
// Returns false (appending nothing) when the stack has no user frame.
GORO_DETAIL_COMPILED bool format_blocked(std::string& out, const traceback& tb, int callers = traceback_callers) {
  if (tb.n == 0) return false;
  std::vector<frame> fs = symbolize(tb.pc, tb.n);
  std::size_t i = 0;
  while (i < fs.size() && !frame_is_user(fs[i])) ++i;
  if (i == fs.size()) return false;
  out += "\tblocked at ";
  append_frame_location(out, fs[i]);
  out += '\n';
  int shown = 0;
  for (++i; i < fs.size() && shown < callers; ++i) {
    if (!frame_is_user(fs[i])) continue;
    append_go_frame(out, fs[i]);
    ++shown;
  }
  return true;
}

// format_location appends "<file>:<line> (<function>)" of the innermost user
// frame of tb, or "?" when it has none (mutexes' "locked at").
GORO_DETAIL_COMPILED void format_location(std::string& out, const traceback& tb) {
  std::vector<frame> fs = symbolize(tb.pc, tb.n);
  for (const frame& f : fs)
    if (frame_is_user(f)) {
      append_frame_location(out, f);
      return;
    }
  out += '?';
}


// degraded_note: the once-per-report note when frames lacked debug info.
GORO_DETAIL_COMPILED const char* degraded_note() noexcept { return "(no debug info: function+offset)\n"; }
#else
GORO_DETAIL_COMPILED bool format_blocked(std::string& out, const traceback& tb, int callers = traceback_callers);
GORO_DETAIL_COMPILED void format_location(std::string& out, const traceback& tb);
GORO_DETAIL_COMPILED const char* degraded_note() noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TRACEBACK_HPP
