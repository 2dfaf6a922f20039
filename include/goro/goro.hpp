// goro/goro.hpp — the umbrella: every part, in dependency order. The root
// goro.hpp is this file with the parts inlined (tools/amalgamate).
//
// Include this (or the root goro.hpp), not a part: the scheduler and the
// park/ready seam call each other (park -> schedule, run_pending -> ready),
// so their definitions are spread over sched.hpp, park.hpp, det.hpp and
// run.hpp, and only the whole set is complete. The leaf parts (config.hpp,
// runq.hpp, timers.hpp) stand alone.
#ifndef GORO_DETAIL_GORO_HPP
#define GORO_DETAIL_GORO_HPP

#include "config.hpp"
#include "sanitizer.hpp"
#include "traceback.hpp"
#include "lock.hpp"
#include "ctx.hpp"
#include "stack.hpp"
#include "runq.hpp"
#include "timers.hpp"
#include "runtime2.hpp"
#include "tls.hpp"
#include "gcache.hpp"
#include "schedt.hpp"
#include "trace.hpp"
#include "det_hooks.hpp"
#include "sched_timers.hpp"
#include "sched.hpp"
#include "park.hpp"
#include "stall.hpp"
#include "sysmon.hpp"
#include "det.hpp"
#include "run.hpp"
#include "blocking.hpp"
#include "sema.hpp"
#include "sync.hpp"
#include "chan.hpp"
#include "select.hpp"
#include "time.hpp"
#include "context.hpp"
#include "semaphore.hpp"
#include "errgroup.hpp"
#include "netpoll.hpp"
#include "net.hpp"
#include "udpsock.hpp"
#include "unixsock.hpp"

#endif  // GORO_DETAIL_GORO_HPP
