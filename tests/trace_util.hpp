// Helpers for the execution-trace tests (tests/trace_test.cpp,
// tests/det/trace_test.cpp): goro writes one trace event per line, so a test
// can read the JSON with string searches, plus a structural check.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace goro_test {

inline std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// temp_path: a fresh file name in the system's temporary directory (per
// process and test), removed first.
inline std::string temp_path(const std::string& name) {
  std::string p = (std::filesystem::temp_directory_path() / ("goro_" + std::to_string(::getpid()) + "_" + name)).string();
  std::filesystem::remove(p);
  return p;
}

// json_balanced: the text is one balanced JSON value as far as brackets and
// string quoting go (no bracket is closed by the wrong kind, none is left open).
inline bool json_balanced(const std::string& s) {
  std::vector<char> st;
  bool in_str = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
      else if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control characters are not JSON
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') st.push_back(c);
    else if (c == '}' || c == ']') {
      if (st.empty() || st.back() != (c == '}' ? '{' : '[')) return false;
      st.pop_back();
    }
  }
  return st.empty() && !in_str;
}

// trace_ev: one event line, with the fields the tests look at.
struct trace_ev {
  std::string line;
  std::string ph, cat, name;
  long long tid = -1;
  double ts = 0, dur = 0;
  std::string num(const char* key) const {  // the raw value after "key": (numbers), or ""
    std::string k = std::string("\"") + key + "\":";
    std::size_t at = line.find(k);
    if (at == std::string::npos) return {};
    std::size_t b = at + k.size(), e = line.find_first_of(",}", b);
    return line.substr(b, e - b);
  }
  long long integer(const char* key) const {
    std::string v = num(key);
    return v.empty() ? -1 : std::atoll(v.c_str());
  }
  std::string str(const char* key) const {  // a string value (first occurrence), escapes dropped
    std::string k = std::string("\"") + key + "\":\"";
    std::size_t at = line.find(k);
    if (at == std::string::npos) return {};
    std::string out;
    for (std::size_t i = at + k.size(); i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      out += line[i];
    }
    return out;
  }
};

inline std::vector<trace_ev> trace_events(const std::string& json) {
  std::vector<trace_ev> out;
  std::istringstream in(json);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("{\"ph\":", 0) != 0) continue;
    trace_ev e;
    e.line = line;
    e.ph = e.str("ph");
    e.cat = e.str("cat");
    e.name = e.str("name");
    e.tid = e.integer("tid");
    e.ts = std::atof(e.num("ts").c_str());
    e.dur = std::atof(e.num("dur").c_str());
    out.push_back(e);
  }
  return out;
}

// flows_matched: every flow start ("s") has exactly one finish ("f") with its
// id and no finish lacks a start.
inline bool flows_matched(const std::vector<trace_ev>& evs, std::size_t* count = nullptr) {
  std::vector<std::string> s, f;
  for (const trace_ev& e : evs) {
    if (e.ph == "s") s.push_back(e.num("id"));
    if (e.ph == "f") f.push_back(e.num("id"));
  }
  std::sort(s.begin(), s.end());
  std::sort(f.begin(), f.end());
  if (count != nullptr) *count = s.size();
  return s == f && std::adjacent_find(s.begin(), s.end()) == s.end();
}

}  // namespace goro_test
