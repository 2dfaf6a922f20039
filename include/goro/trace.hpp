// goro/trace.hpp — the execution trace (Go: runtime/trace.go, trace2*.go and
// the flight recorder): $GORO_DEBUG=trace=<path> in threaded mode,
// sim::explore_options::trace_path (and $GORO_DEBUG=trace for a single run) in
// deterministic mode. Written as Chrome trace-event JSON, which Perfetto and
// chrome://tracing open; deterministic mode also writes an HTML timeline.
//
// What is recorded (docs/reference.md, "Execution trace"):
//   slice     a stretch a goroutine ran on a P, from start_g to the switch away
//             (park, yield, preemption, exit) or to entering blocking<>: one
//             complete ("X") event on the P's track
//   blocking  the time an M spent inside blocking<> without its P: an "X" event
//             on that M's track ("M3 (blocking)")
//   create    go: an instant event on the parent's track
//   block     park: an instant event with the wait reason's name
//   unblock   ready: an instant event on the readier's track, and a flow arrow
//             ("s" there, "f" at the start of the readied G's next slice)
//   race, deadlock  deterministic mode's failure marks (det.hpp)
//
// Storage. Each P has a ring (trace_ring) written only by the M holding the P,
// so recording takes no lock and no atomic: the M that holds a P is the only
// writer of its ring, as of its run queue's head (runtime2.hpp). Events from
// contexts without a P (a plain thread's go or ready, an M back from
// blocking<> without a P) go to one more ring under trace_state::lock. The
// rings are bounded (Go's flight recorder keeps the most recent events): each
// holds cap / (procs + 1) events and overwrites its oldest, so the trace is the
// end of the run. cap: $GORO_DEBUG=tracebuf=<events>, default trace_default_events
// (48 bytes each). The file is written once, at the end of run() (after every M
// has been joined, which orders all the rings' writes before the reads); a
// process that crashes loses it.
//
// Off (the default), each event site is one predictable branch on p::trace
// (nullptr), a field of the P the site already uses; nothing else runs.
//
// Time. Threaded: nanotime() since the trace began, written in microseconds
// with three decimals (Chrome's "ts" unit is the microsecond). Deterministic:
// the step number (det_state::steps), so the time axis is virtual and a replay
// gives the same trace; one track per goroutine instead of one per P.
#ifndef GORO_DETAIL_TRACE_HPP
#define GORO_DETAIL_TRACE_HPP

#include "config.hpp"
#include "lock.hpp"
#include "runtime2.hpp"
#include "schedt.hpp"
#include "tls.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

// 262144 events of 48 bytes: 12 MiB at most, touched only as it fills.
inline constexpr std::uint64_t trace_default_events = 1u << 18;
inline constexpr std::uint16_t trace_tid_other = 9999;    // the track of contexts without a P
inline constexpr std::uint16_t trace_tid_m_base = 10000;  // M n inside blocking<>: track 10000 + n

enum class trace_kind : std::uint8_t { slice, blocking, create, block, unblock, flow_start, flow_end, race, deadlock };

// trace_event: one record. goid is the goroutine on the track (deterministic
// mode draws it on goid's lane): the running one for slice, block, and the
// readier (0: none, g0) for create, unblock and flow_start; arg is the other
// goroutine (create: the child; unblock: the readied G), the flow id, or a
// race's other goroutine. file/line: a creation site (slice, create, blocking)
// or an access site (race); file has static storage (__builtin_FILE).
struct trace_event {
  std::int64_t ts = 0;
  std::int64_t dur = 0;
  std::uint64_t goid = 0;
  std::uint64_t arg = 0;
  const char* file = nullptr;
  std::uint32_t line = 0;
  std::uint16_t tid = 0;  // threaded mode's track: a P id, trace_tid_other, or trace_tid_m_base + M id
  trace_kind kind = trace_kind::slice;
  std::uint8_t reason = 0;  // block, deadlock: a wait_reason; race: 1 if this access wrote
};
static_assert(sizeof(trace_event) == 48, "trace_event: keep it at 48 bytes (trace_default_events' size)");

// trace_ring: a bounded ring of the most recent events. One writer at a time:
// the M holding the P it belongs to, or the holder of trace_state::lock for
// the shared one. Read only once every writer has stopped (trace_finish).
struct trace_ring {
  std::unique_ptr<trace_event[]> ev;  // default-initialized: pages are touched as they fill
  std::uint64_t cap = 0;
  std::uint64_t n = 0;        // events ever written; the newest is at (n - 1) % cap
  std::uint64_t flow_seq = 0; // flow ids handed out by this ring's writer
  std::uint64_t flow_base = 0;

  void put(const trace_event& e) noexcept {
    ev[n % cap] = e;
    ++n;
  }
};

struct trace_label {
  std::uint64_t goid;
  std::int64_t ts;
  std::string label;
  bool operator<(const trace_label& o) const noexcept { return goid != o.goid ? goid < o.goid : ts < o.ts; }
};
inline constexpr std::size_t trace_max_labels = 1u << 16;  // set_label records kept (later ones are dropped)

// trace_state: a run's trace (sched_t::trace). Created at run() start when
// tracing is on; the rings are handed to the Ps (p::trace).
struct trace_state {
  std::string path;                       // immutable
  std::int64_t t0 = 0;                    // immutable: nanotime() when the trace began (threaded)
  const std::uint64_t* steps = nullptr;   // immutable: deterministic mode's step counter, else nullptr
  std::vector<std::unique_ptr<trace_ring>> rings;  // one per P, then the shared one (immutable vector)
  rt_mutex lock;                          // guards rings.back() and labels
  std::vector<trace_label> labels;        // lock
  bool on = true;                         // false once trace_stop ran (deterministic mode: at the failure)
  std::string title;                      // deterministic mode: the failure's report (set before trace_finish)
  std::uint64_t seed = 0;                 // deterministic mode: the run's seed

  std::int64_t now() const noexcept { return steps != nullptr ? static_cast<std::int64_t>(*steps) : nanotime() - t0; }
  trace_ring& other() noexcept { return *rings.back(); }
};

#if GORO_DETAIL_DEFINE_COMPILED
// trace_capacity: $GORO_DEBUG=tracebuf=<events>, else the default.
GORO_DETAIL_COMPILED std::uint64_t trace_capacity() {
  std::string v = debug_setting("tracebuf");
  if (!v.empty()) {
    unsigned long long n = std::strtoull(v.c_str(), nullptr, 10);
    if (n > 0) return n;
  }
  return trace_default_events;
}

// trace_start makes s's trace and gives each P its ring. Before any goroutine
// runs (run() start-up).
GORO_DETAIL_COMPILED void trace_start(sched_t* s, std::string path, const std::uint64_t* steps = nullptr) {
  auto* t = new trace_state;
  t->path = std::move(path);
  t->t0 = nanotime();
  t->steps = steps;
  std::uint64_t total = trace_capacity();
  std::uint64_t per = std::max<std::uint64_t>(total / (s->allp.size() + 1), 16);
  for (std::size_t i = 0; i <= s->allp.size(); ++i) {
    auto r = std::make_unique<trace_ring>();
    r->ev.reset(new trace_event[per]);
    r->cap = per;
    r->flow_base = static_cast<std::uint64_t>(i + 1) << 40;  // distinct per ring, exact in a JSON double
    t->rings.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < s->allp.size(); ++i) s->allp[i]->trace = t->rings[i].get();
  s->trace = t;
}
#else
GORO_DETAIL_COMPILED void trace_start(sched_t* s, std::string path, const std::uint64_t* steps = nullptr);
#endif  // GORO_DETAIL_DEFINE_COMPILED

// tracing: is s recording? For the sites without a P (whose P's ring
// pointer answers the same question). Any thread of s.
inline bool tracing(const sched_t* s) noexcept { return s->trace != nullptr && s->trace->on; }

// trace_stop ends the recording but keeps the events for trace_finish:
// deterministic mode stops at a run's first failure, so that the timeline
// ends there and not after the unwinding. The running goroutine's slice (if
// any) ends now. The run's thread.
GORO_DETAIL_COMPILED void trace_stop(sched_t* s) noexcept;

// --- recording -----------------------------------------------------------------
// Each trace_* below is called only when tracing is on (its caller tested
// p::trace or sched_t::trace). The ones taking a P: the M holding it.

inline void trace_put_p(p* pp, trace_event e) noexcept {
  e.tid = static_cast<std::uint16_t>(pp->id);
  pp->trace->put(e);
}

// trace_other: an event from a context without a P. Any thread.
inline void trace_other(sched_t* s, trace_event e) noexcept {
  e.tid = trace_tid_other;
  rt_lock_guard lk(s->trace->lock);
  s->trace->other().put(e);
}

// trace_go_start: gp begins a slice on pp (start_g), closing the flow
// arrow of the ready that made it runnable. switched: the M comes straight
// from trace_go_stop of the G it leaves, whose end (pp->trace_slice_start)
// is this slice's start: one clock read per switch (clock_gettime was 40 %
#if GORO_DETAIL_DEFINE_COMPILED
// of a traced yield).
GORO_DETAIL_NOINLINE GORO_DETAIL_COMPILED void trace_go_start(p* pp, g* gp, bool switched = false) noexcept {
  std::int64_t now = switched ? pp->trace_slice_start : pp->sched->trace->now();
  pp->trace_slice_start = now;
  if (gp->trace_flow != 0) {
    trace_event e;
    e.kind = trace_kind::flow_end;
    e.ts = now;
    e.goid = gp->id;
    e.arg = gp->trace_flow;
    trace_put_p(pp, e);
    gp->trace_flow = 0;
  }
}

// trace_go_stop: gp's slice on pp ends (it switches away, or enters blocking<>).
GORO_DETAIL_NOINLINE GORO_DETAIL_COMPILED void trace_go_stop(p* pp, g* gp) noexcept {
  trace_event e;
  e.kind = trace_kind::slice;
  e.ts = pp->trace_slice_start;
  std::int64_t now = pp->sched->trace->now();
  e.dur = now - pp->trace_slice_start;
  pp->trace_slice_start = now;  // the next slice's start, if the M switches straight to another G
  e.goid = gp->id;
  e.file = gp->site.file;
  e.line = gp->site.line;
  trace_put_p(pp, e);
}

// trace_go_create: parent (nullptr: run() or a g0) made child.
GORO_DETAIL_NOINLINE GORO_DETAIL_COMPILED void trace_go_create(sched_t* s, p* pp, const g* parent, const g* child) noexcept {
  trace_event e;
  e.kind = trace_kind::create;
  e.ts = s->trace->now();
  e.goid = parent != nullptr ? parent->id : 0;
  e.arg = child->id;
  e.file = child->site.file;
  e.line = child->site.line;
  if (pp != nullptr) trace_put_p(pp, e);
  else trace_other(s, e);
}

// trace_go_block: gp parks (park), for why. In deterministic mode the
// instant goes at the end of the step it parks in, where its slice ends
// (a slice of the steps s..t covers [s, t + 1)).
GORO_DETAIL_NOINLINE GORO_DETAIL_COMPILED void trace_go_block(p* pp, const g* gp, wait_reason why) noexcept {
  trace_event e;
  e.kind = trace_kind::block;
  e.ts = pp->sched->trace->now() + (pp->sched->trace->steps != nullptr ? 1 : 0);
  e.goid = gp->id;
  e.reason = static_cast<std::uint8_t>(why);
  trace_put_p(pp, e);
}

// trace_go_unblock: by (nullptr: g0 or a plain thread) readies gp (ready).
// A goroutine readier on a P also starts a flow arrow, which gp's next slice
// ends; g0 (timers, the netpoller) has no slice for an arrow to leave from.
// gp->trace_flow is published to the M that runs gp by the run queue's
// release, like gp.
GORO_DETAIL_NOINLINE GORO_DETAIL_COMPILED void trace_go_unblock(sched_t* s, p* pp, const g* by, g* gp) noexcept {
  trace_event e;
  e.kind = trace_kind::unblock;
  e.ts = s->trace->now();
  e.goid = by != nullptr ? by->id : 0;
  e.arg = gp->id;
  if (pp == nullptr) {
    gp->trace_flow = 0;
    trace_other(s, e);
    return;
  }
  trace_put_p(pp, e);
  if (by == nullptr) {
    gp->trace_flow = 0;
    return;
  }
  trace_ring& r = *pp->trace;
  e.kind = trace_kind::flow_start;
  e.arg = r.flow_base + ++r.flow_seq;
  gp->trace_flow = e.arg;
  trace_put_p(pp, e);
}

// trace_blocking_end: M mp was inside blocking<> (running gp) from start
// until now; pp: the P it got back, or nullptr (then the shared ring).
GORO_DETAIL_COMPILED void trace_blocking_end(sched_t* s, p* pp, const m* mp, const g* gp, std::int64_t start) noexcept {
  trace_event e;
  e.kind = trace_kind::blocking;
  e.ts = start;
  e.dur = s->trace->now() - start;
  e.goid = gp->id;
  e.file = gp->site.file;
  e.line = gp->site.line;
  e.tid = static_cast<std::uint16_t>(trace_tid_m_base + mp->id);
  if (pp != nullptr) {
    pp->trace->put(e);
  } else {
    rt_lock_guard lk(s->trace->lock);
    s->trace->other().put(e);
  }
}

// trace_set_label: gp's label from now on (this_goroutine::set_label). Any
// goroutine; takes the lock (labels are rare).
GORO_DETAIL_COMPILED void trace_set_label(sched_t* s, const g* gp, std::string_view label) {
  trace_state* t = s->trace;
  rt_lock_guard lk(t->lock);
  if (t->labels.size() < trace_max_labels) t->labels.push_back(trace_label{gp->id, t->now(), std::string(label)});
}

// trace_mark: a deterministic failure mark on goid's lane at step ts.
GORO_DETAIL_COMPILED void trace_mark(sched_t* s, trace_kind kind, std::uint64_t goid, std::int64_t ts, std::uint64_t other, source_loc site,
                                     std::uint8_t reason) noexcept {
  trace_event e;
  e.kind = kind;
  e.ts = ts;
  e.goid = goid;
  e.arg = other;
  e.file = site.file;
  e.line = site.line;
  e.reason = reason;
  trace_other(s, e);
}

GORO_DETAIL_COMPILED void trace_stop(sched_t* s) noexcept {
  if (!tracing(s)) return;
  m* mp = getm();
  if (mp != nullptr && mp->sched == s && mp->curg != nullptr && mp->pp != nullptr && mp->pp->trace != nullptr)
    trace_go_stop(mp->pp, mp->curg);
  for (p* pp : s->allp) pp->trace = nullptr;
  s->trace->on = false;
}

// --- writing ------------------------------------------------------------------

GORO_DETAIL_COMPILED void trace_json_str(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || c == '<' || c == '>' || c == '&') {  // < > &: safe inside an HTML <script>
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

GORO_DETAIL_COMPILED std::string_view trace_base(const char* file) {
  std::string_view f = file != nullptr ? file : "?";
  std::size_t slash = f.rfind('/');
  return slash == std::string_view::npos ? f : f.substr(slash + 1);
}

// trace_ts formats a time stamp: microseconds with three decimals (threaded),
// or the step (deterministic).
GORO_DETAIL_COMPILED void trace_ts(std::string& out, std::int64_t v, bool steps) {
  char buf[40];
  if (steps) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(v / 1000), static_cast<long long>(v % 1000));
  out += buf;
}

// trace_events collects every ring's events (oldest first per ring) sorted by
// time. After every writer has stopped.
GORO_DETAIL_COMPILED std::vector<trace_event> trace_events(const trace_state& t) {
  std::vector<trace_event> all;
  for (const auto& r : t.rings) {
    std::uint64_t kept = std::min(r->n, r->cap);
    for (std::uint64_t i = r->n - kept; i < r->n; ++i) all.push_back(r->ev[i % r->cap]);
  }
  std::stable_sort(all.begin(), all.end(), [](const trace_event& a, const trace_event& b) { return a.ts < b.ts; });
  return all;
}

// trace_label_at: goid's label as of ts ("" if none). t.labels is sorted
// (trace_finish sorts it; stable, so of two set at one step the later wins).
GORO_DETAIL_COMPILED std::string_view trace_label_at(const trace_state& t, std::uint64_t goid, std::int64_t ts) {
  auto it = std::upper_bound(t.labels.begin(), t.labels.end(), trace_label{goid, ts, {}},
                             [](const trace_label& a, const trace_label& b) { return a.goid != b.goid ? a.goid < b.goid : a.ts < b.ts; });
  if (it == t.labels.begin()) return {};
  --it;
  return it->goid == goid ? std::string_view(it->label) : std::string_view();
}

// trace_slice_name: "g12 <file>:34 [label]" (the site's file name only).
GORO_DETAIL_COMPILED std::string trace_slice_name(const trace_state& t, const trace_event& e) {
  std::string n = "g" + std::to_string(e.goid) + " " + std::string(trace_base(e.file)) + ":" + std::to_string(e.line);
  std::string_view l = trace_label_at(t, e.goid, e.ts + e.dur);
  if (!l.empty()) n += " [" + std::string(l) + "]";
  return n;
}

// trace_json renders the events as a Chrome trace-event JSON object.
GORO_DETAIL_COMPILED std::string trace_json(const trace_state& t, const std::vector<trace_event>& evs) {
  const bool det = t.steps != nullptr;
  std::string out = "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"goro\",\"clock\":";
  out += det ? "\"steps\"" : "\"us\"";
  if (det) out += ",\"seed\":" + std::to_string(t.seed);
  out += ",\"title\":";
  trace_json_str(out, t.title);
  out += ",\"events_kept\":" + std::to_string(evs.size()) + "},\n\"traceEvents\":[\n";
  bool first = true;
  auto open = [&](const char* ph, std::uint64_t tid, std::int64_t ts) {
    if (!first) out += ",\n";
    first = false;
    out += "{\"ph\":\"";
    out += ph;
    out += "\",\"pid\":1,\"tid\":" + std::to_string(tid) + ",\"ts\":";
    trace_ts(out, ts, det);
  };
  // Track names (metadata): every track an event uses.
  std::vector<std::uint64_t> tids;
  for (const trace_event& e : evs) tids.push_back(det ? e.goid : e.tid);
  std::sort(tids.begin(), tids.end());
  tids.erase(std::unique(tids.begin(), tids.end()), tids.end());
  if (!first) out += ",\n";
  first = false;
  out += "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":";
  trace_json_str(out, det ? "goro (deterministic, seed " + std::to_string(t.seed) + ")" : std::string("goro"));
  out += "}}";
  for (std::uint64_t tid : tids) {
    std::string name;
    if (det) {
      name = tid == 0 ? std::string("runtime") : "g" + std::to_string(tid);
      if (tid != 0)
        for (const trace_event& e : evs)
          if ((e.kind == trace_kind::slice && e.goid == tid) || (e.kind == trace_kind::create && e.arg == tid)) {
            name += " " + std::string(trace_base(e.file)) + ":" + std::to_string(e.line);
            std::string_view l = trace_label_at(t, tid, INT64_MAX);
            if (!l.empty()) name += " [" + std::string(l) + "]";
            break;
          }
    } else if (tid == trace_tid_other) {
      name = "no P (threads, sysmon)";
    } else if (tid >= trace_tid_m_base) {
      name = "M" + std::to_string(tid - trace_tid_m_base) + " (blocking)";
    } else {
      name = "P" + std::to_string(tid);
    }
    out += ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) + ",\"name\":\"thread_name\",\"args\":{\"name\":";
    trace_json_str(out, name);
    out += "}},\n{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
           ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":" + std::to_string(tid) + "}}";
  }
  for (const trace_event& e : evs) {
    std::uint64_t tid = det ? e.goid : e.tid;
    switch (e.kind) {
      case trace_kind::slice:
      case trace_kind::blocking: {
        open("X", tid, e.ts);
        out += ",\"dur\":";
        trace_ts(out, det ? std::max<std::int64_t>(e.dur, 1) : e.dur, det);
        out += ",\"cat\":";
        out += e.kind == trace_kind::slice ? "\"goroutine\"" : "\"blocking\"";
        out += ",\"name\":";
        trace_json_str(out, (e.kind == trace_kind::blocking ? "blocking<> " : "") + trace_slice_name(t, e));
        out += ",\"args\":{\"goid\":" + std::to_string(e.goid) + ",\"site\":";
        trace_json_str(out, std::string(e.file != nullptr ? e.file : "?") + ":" + std::to_string(e.line));
        std::string_view l = trace_label_at(t, e.goid, e.ts + e.dur);
        if (!l.empty()) {
          out += ",\"label\":";
          trace_json_str(out, l);
        }
        out += "}}";
        break;
      }
      case trace_kind::create:
        open("i", tid, e.ts);
        out += ",\"s\":\"t\",\"cat\":\"create\",\"name\":\"create g" + std::to_string(e.arg) + "\",\"args\":{\"parent\":" +
               std::to_string(e.goid) + ",\"child\":" + std::to_string(e.arg) + ",\"site\":";
        trace_json_str(out, std::string(e.file != nullptr ? e.file : "?") + ":" + std::to_string(e.line));
        out += "}}";
        break;
      case trace_kind::block:
      case trace_kind::deadlock: {  // an instant with the wait reason: "block: chan send", "deadlock: sync.Mutex.Lock"
        const char* cat = e.kind == trace_kind::block ? "block" : "deadlock";
        open("i", tid, e.ts);
        out += std::string(",\"s\":\"t\",\"cat\":\"") + cat + "\",\"name\":";
        trace_json_str(out, std::string(cat) + ": " + wait_reason_name(static_cast<wait_reason>(e.reason)));
        out += ",\"args\":{\"goid\":" + std::to_string(e.goid) + ",\"reason\":";
        trace_json_str(out, wait_reason_name(static_cast<wait_reason>(e.reason)));
        out += "}}";
        break;
      }
      case trace_kind::unblock:
        open("i", tid, e.ts);
        out += ",\"s\":\"t\",\"cat\":\"unblock\",\"name\":\"unblock g" + std::to_string(e.arg) + "\",\"args\":{\"goid\":" +
               std::to_string(e.arg) + ",\"by\":" + std::to_string(e.goid) + "}}";
        break;
      case trace_kind::flow_start:
      case trace_kind::flow_end:
        open(e.kind == trace_kind::flow_start ? "s" : "f", tid, e.ts);
        out += ",\"id\":" + std::to_string(e.arg) + ",\"cat\":\"ready\",\"name\":\"ready\"";
        if (e.kind == trace_kind::flow_end) out += ",\"bp\":\"e\"";
        out += ",\"args\":{\"goid\":" + std::to_string(e.goid) + "}}";
        break;
      case trace_kind::race:
        open("i", tid, e.ts);
        out += ",\"s\":\"t\",\"cat\":\"race\",\"name\":";
        trace_json_str(out, std::string("race: ") + (e.reason != 0 ? "write" : "read") + " at " + std::string(trace_base(e.file)) +
                                ":" + std::to_string(e.line));
        out += ",\"args\":{\"goid\":" + std::to_string(e.goid) + ",\"other\":" + std::to_string(e.arg) +
               ",\"write\":" + (e.reason != 0 ? "true" : "false") + ",\"site\":";
        trace_json_str(out, std::string(e.file != nullptr ? e.file : "?") + ":" + std::to_string(e.line));
        out += "}}";
        break;
    }
  }
  out += "\n]}\n";
  return out;
}

// trace_html_path: the HTML timeline next to a JSON path: "x.json" -> "x.html",
// any other name gets ".html" appended.
GORO_DETAIL_COMPILED std::string trace_html_path(const std::string& json) {
  if (json.size() > 5 && json.compare(json.size() - 5, 5, ".json") == 0) return json.substr(0, json.size() - 5) + ".html";
  return json + ".html";
}

// trace_html: a self-contained page (inline script, SVG, no network) drawing
// the deterministic trace: one lane per goroutine, running stretches, blocks
// labelled with their wait reasons, race and deadlock marks, flow arrows, and
// a legend. The script records what it drew: <svg id="timeline"
// data-lanes="N" data-slices="S" data-marks="K">, one <g class="lane"
// data-goid="…"> per goroutine (class "lane racing" / "lane deadlocked" for
// the highlighted ones), and document.title "goro timeline: N lanes".
GORO_DETAIL_COMPILED std::string trace_html(const std::string& json, const std::string& title) {
  std::string out = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>goro timeline</title>
<style>
body{font:13px sans-serif;margin:12px;background:#fff;color:#222}
h1{font-size:16px;margin:0 0 4px} #msg{white-space:pre-wrap;font:12px monospace;margin:0 0 8px;color:#822}
.lanebg{fill:#f6f6f6} .racing .lanebg{fill:#fde2e2} .deadlocked .lanebg{fill:#fff0d0}
.run{fill:#4a90d9} .racing .run{fill:#d9534f} .deadlocked .run{fill:#e69a28}
.lname{font:12px monospace;fill:#222} .block{fill:#666} .btext{font:10px sans-serif;fill:#555}
.mark{stroke:#000;stroke-width:1} .mtext{font:bold 10px sans-serif;fill:#a00}
.flow{stroke:#888;stroke-width:1;fill:none;marker-end:url(#arrow)} .axis{font:10px sans-serif;fill:#666}
.legend text{font:11px sans-serif;fill:#222}
</style></head><body>
<h1 id="head">goro timeline</h1><div id="msg"></div>
<svg id="timeline" xmlns="http://www.w3.org/2000/svg"></svg>
<script id="trace" type="application/json">)";
  out += json;
  out += R"(</script>
<script>
(function(){
var T=JSON.parse(document.getElementById('trace').textContent), ev=T.traceEvents, NS='http://www.w3.org/2000/svg';
var title=)";
  std::string t;
  trace_json_str(t, title);
  out += t;
  out += R"(;
document.getElementById('head').textContent='goro timeline (seed '+T.otherData.seed+')';
document.getElementById('msg').textContent=title;
var lanes={}, order=[], names={}, maxTs=1;
function lane(id){ if(id<1) return null; if(!(id in lanes)){lanes[id]={slices:[],blocks:[],marks:[],race:false,dead:false}; order.push(id);} return lanes[id]; }
ev.forEach(function(e){
  if(e.ph==='M'&&e.name==='thread_name'&&e.tid>0) names[e.tid]=e.args.name;
  if(e.ph==='M') return;
  maxTs=Math.max(maxTs,e.ts+(e.dur||0)+1);
  if(e.ph==='X'&&e.cat==='goroutine'){ lane(e.tid).slices.push(e); }
  else if(e.ph==='i'&&e.cat==='create'){ lane(e.args.child); }
  else if(e.ph==='i'&&e.cat==='block'){ var l=lane(e.tid); if(l) l.blocks.push(e); }
  else if(e.ph==='i'&&e.cat==='race'){ var l=lane(e.tid); l.race=true; l.marks.push(e); }
  else if(e.ph==='i'&&e.cat==='deadlock'){ var l=lane(e.tid); l.dead=true; l.marks.push(e); }
});
order.sort(function(a,b){return a-b;});
var W=Math.max(900,Math.min(2400,document.documentElement.clientWidth-30)), left=250, right=40, top=30, LH=46, legendH=40;
var H=top+order.length*LH+legendH+10, sx=(W-left-right)/maxTs;
var svg=document.getElementById('timeline'); svg.setAttribute('width',W); svg.setAttribute('height',H);
function el(tag,attrs,parent,text){ var x=document.createElementNS(NS,tag); for(var k in attrs) x.setAttribute(k,attrs[k]); if(text!==undefined) x.textContent=text; (parent||svg).appendChild(x); return x; }
var defs=el('defs',{}); var mk=el('marker',{id:'arrow',viewBox:'0 0 10 10',refX:'10',refY:'5',markerWidth:'6',markerHeight:'6',orient:'auto'},defs); el('path',{d:'M0,0 L10,5 L0,10 z',fill:'#888'},mk);
var X=function(ts){return left+ts*sx;}, Y={};
var nslices=0, nmarks=0;
var step=Math.max(1,Math.pow(10,Math.floor(Math.log10(maxTs/5))));
for(var s=0;s<=maxTs;s+=step){ el('line',{x1:X(s),x2:X(s),y1:top-6,y2:H-legendH-10,stroke:'#e4e4e4'}); el('text',{x:X(s)+2,y:top-10,'class':'axis'},null,'step '+s); }
order.forEach(function(id,i){
  var l=lanes[id], y=top+i*LH; Y[id]=y;
  var g=el('g',{'class':'lane'+(l.race?' racing':'')+(l.dead?' deadlocked':''),'data-goid':id});
  el('rect',{x:0,y:y,width:W,height:LH-4,'class':'lanebg'},g);
  el('text',{x:4,y:y+16,'class':'lname'},g,names[id]||('g'+id));
  if(l.race||l.dead) el('text',{x:4,y:y+32,'class':'mtext'},g,l.race?'data race':'deadlocked');
  l.slices.forEach(function(e){ nslices++; var r=el('rect',{x:X(e.ts),y:y+4,width:Math.max(1,e.dur*sx),height:14,'class':'run'},g); el('title',{},r,e.name+' steps '+e.ts+'-'+(e.ts+e.dur)); });
  l.blocks.forEach(function(e){ var x=X(e.ts), far=x>W*0.75; el('rect',{x:x-1,y:y+20,width:3,height:8,'class':'block'},g); el('text',{x:far?x-3:x+3,y:y+28,'class':'btext','text-anchor':far?'end':'start'},g,e.args.reason); });
  l.marks.forEach(function(e){ nmarks++; var c=e.cat==='race'?'#d00':'#e69a28'; var x=X(e.ts), far=x>W*0.6; el('path',{d:'M'+x+','+(y+2)+' l5,9 l-10,0 z',fill:c,'class':'mark'},g); el('text',{x:far?x-8:x+8,y:y+40,'class':'mtext','text-anchor':far?'end':'start'},g,e.name+' (step '+e.ts+')'); });
});
var flows={}; ev.forEach(function(e){ if(e.ph==='s') flows[e.id]={from:e}; });
ev.forEach(function(e){ if(e.ph==='f'&&flows[e.id]&&(flows[e.id].from.tid in Y)&&(e.tid in Y)){ var a=flows[e.id].from; el('path',{d:'M'+X(a.ts)+','+(Y[a.tid]+18)+' L'+X(e.ts)+','+(Y[e.tid]+4),'class':'flow'}); } });
var lg=el('g',{'class':'legend'}), ly=H-legendH+6, lx=left;
[['run','#4a90d9','running'],['block','#666','blocked (wait reason)'],['race','#d9534f','data race: lane and access'],['dead','#e69a28','deadlocked goroutine'],['flow','#888','readied by (arrow)']].forEach(function(k,i){
  el('rect',{x:lx+i*170,y:ly,width:14,height:10,fill:k[1]},lg); el('text',{x:lx+i*170+18,y:ly+9},lg,k[2]); });
svg.setAttribute('data-lanes',order.length); svg.setAttribute('data-slices',nslices); svg.setAttribute('data-marks',nmarks);
document.title='goro timeline: '+order.length+' lanes';
})();
</script></body></html>
)";
  return out;
}

GORO_DETAIL_COMPILED bool trace_write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

// trace_finish writes s's trace (and, in deterministic mode, the HTML
// timeline) and ends it. After every M has stopped (run_main, det_run).
GORO_DETAIL_COMPILED void trace_finish(sched_t* s) noexcept {
  trace_state* t = s->trace;
  if (t == nullptr) return;
  for (p* pp : s->allp) pp->trace = nullptr;
  s->trace = nullptr;
  try {
    std::stable_sort(t->labels.begin(), t->labels.end());
    std::vector<trace_event> evs = trace_events(*t);
    std::string json = trace_json(*t, evs);
    bool ok = trace_write_file(t->path, json);
    if (ok && t->steps != nullptr) ok = trace_write_file(trace_html_path(t->path), trace_html(json, t->title));
    if (!ok) {
      std::string msg = "goro: cannot write the trace to " + t->path + ": " + std::strerror(errno) + "\n";
      write_err(msg.c_str(), msg.size());
    }
  } catch (...) {
    write_err("goro: out of memory writing the trace\n");
  }
  delete t;
}
#else
GORO_DETAIL_COMPILED void trace_go_start(p* pp, g* gp, bool switched = false) noexcept;
GORO_DETAIL_COMPILED void trace_go_stop(p* pp, g* gp) noexcept;
GORO_DETAIL_COMPILED void trace_go_create(sched_t* s, p* pp, const g* parent, const g* child) noexcept;
GORO_DETAIL_COMPILED void trace_go_block(p* pp, const g* gp, wait_reason why) noexcept;
GORO_DETAIL_COMPILED void trace_go_unblock(sched_t* s, p* pp, const g* by, g* gp) noexcept;
GORO_DETAIL_COMPILED void trace_blocking_end(sched_t* s, p* pp, const m* mp, const g* gp, std::int64_t start) noexcept;
GORO_DETAIL_COMPILED void trace_set_label(sched_t* s, const g* gp, std::string_view label);
GORO_DETAIL_COMPILED void trace_mark(sched_t* s, trace_kind kind, std::uint64_t goid, std::int64_t ts, std::uint64_t other, source_loc site,
                                     std::uint8_t reason) noexcept;
GORO_DETAIL_COMPILED std::string trace_html_path(const std::string& json);
GORO_DETAIL_COMPILED void trace_finish(sched_t* s) noexcept;
#endif  // GORO_DETAIL_DEFINE_COMPILED

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // GORO_DETAIL_TRACE_HPP
