// context — the Go peer of goro's bench/context.cpp; the workload is defined in
// docs/benchmarks.md (section "context").
//
// GOMAXPROCS(2), two phases:
//  1. derive: a long-lived parent P = WithCancel(Background()). N = 1,000,000
//     times: derive a child of P with context.WithCancel, call its cancel
//     function, check its Err() is context.Canceled. Timed: the whole loop;
//     ns_per_derive_cancel = elapsed / N.
//  2. fan-out: a root R = WithCancel(Background()). G = 10,000 goroutines; each
//     derives its own child of R with context.WithCancel, counts itself on the
//     `parked` WaitGroup and waits in a one-case select on its child's Done();
//     once woken it checks Err() is context.Canceled, calls its own cancel and
//     counts itself on the `finished` WaitGroup. The main goroutine waits for
//     `parked`, then (timed) cancels R and waits for `finished`;
//     cancel_fanout_us = that time in microseconds.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	n  = 1000000 // phase 1: derive-and-cancel iterations
	gs = 10000   // phase 2: goroutines
)

func main() {
	runtime.GOMAXPROCS(2)

	// Phase 1: derive and cancel from one long-lived parent.
	parent, cancelParent := context.WithCancel(context.Background())
	badDerive := 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c, cancel := context.WithCancel(parent)
		cancel()
		if c.Err() != context.Canceled {
			badDerive++
		}
	}
	deriveElapsed := time.Since(t0)
	parentLive := parent.Err() == nil
	cancelParent()

	// Phase 2: G goroutines wait on their own children of one root.
	root, cancelRoot := context.WithCancel(context.Background())
	var parked, finished sync.WaitGroup
	var wokeCanceled int64
	parked.Add(gs)
	finished.Add(gs)
	for i := 0; i < gs; i++ {
		go func() {
			defer finished.Done()
			ctx, cancel := context.WithCancel(root)
			defer cancel()
			parked.Done()
			select {
			case <-ctx.Done():
			}
			if ctx.Err() == context.Canceled {
				atomic.AddInt64(&wokeCanceled, 1)
			}
		}()
	}
	parked.Wait()
	t1 := time.Now()
	cancelRoot()
	finished.Wait()
	fanoutElapsed := time.Since(t1)

	if badDerive != 0 || !parentLive || atomic.LoadInt64(&wokeCanceled) != gs {
		pl := 0
		if parentLive {
			pl = 1
		}
		fmt.Fprintf(os.Stderr, "CHECK FAILED: %d derived children not canceled, parent live %d, %d of %d goroutines woke canceled\n",
			badDerive, pl, wokeCanceled, gs)
		os.Exit(1)
	}
	fmt.Printf("context ns_per_derive_cancel=%.1f ns cancel_fanout_us=%.1f us n=%d gs=%d\n",
		float64(deriveElapsed.Nanoseconds())/n, float64(fanoutElapsed.Nanoseconds())/1e3, n, gs)
}
