// goro/goro.hpp — the umbrella: every part, in dependency order. The root
// goro.hpp is this file with the parts inlined (tools/amalgamate).
#ifndef GORO_DETAIL_GORO_HPP
#define GORO_DETAIL_GORO_HPP

#include "config.hpp"
#include "sanitizer.hpp"
#include "lock.hpp"
#include "ctx.hpp"
#include "stack.hpp"
#include "runq.hpp"
#include "timers.hpp"
#include "runtime2.hpp"
#include "sched.hpp"
#include "det.hpp"
#include "blocking.hpp"
#include "sema.hpp"
#include "sync.hpp"
#include "chan.hpp"
#include "select.hpp"
#include "time.hpp"
#include "netpoll.hpp"
#include "net.hpp"

#endif  // GORO_DETAIL_GORO_HPP
