// pingpong — the Go peer of goro's bench/pingpong.cpp; the workload is defined in
// docs/benchmarks.md (section "pingpong").
//
// Two unbuffered channels, ping and pong. An echo goroutine receives v on ping
// and sends v + 1 on pong until ping is closed, then closes pong. The main
// goroutine does up to N round trips (send x on ping, x = receive on pong),
// stopping early after 2 s (checked every 1024 round trips), then closes ping and
// waits for pong to be closed. Phase 1 runs at GOMAXPROCS(2) (ns_per_rt), phase 2
// at GOMAXPROCS(1) (ns_per_rt_p1). Timed from just after spawning the echo
// goroutine until the last round trip's receive returns.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

const (
	n         = 1000000
	safetyCap = 2 * time.Second // per phase (docs/benchmarks.md, "pingpong")
)

// phase runs one phase at the GOMAXPROCS in force; it returns the round trips
// done, the final x (the check wants x == rts) and the elapsed time.
func phase() (rts, x int64, elapsed time.Duration) {
	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	t0 := time.Now()
	for rts < n {
		ping <- x
		x = <-pong
		rts++
		if rts%1024 == 0 && time.Since(t0) >= safetyCap {
			break
		}
	}
	elapsed = time.Since(t0)
	close(ping)
	for range pong {
	} // ends once the echo goroutine has closed pong
	return rts, x, elapsed
}

func main() {
	runtime.GOMAXPROCS(2)
	rts2, x2, el2 := phase()
	runtime.GOMAXPROCS(1)
	rts1, x1, el1 := phase()

	if x2 != rts2 || x1 != rts1 {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: x %d after %d round trips (procs 2), x %d after %d (procs 1)\n",
			x2, rts2, x1, rts1)
		os.Exit(1)
	}
	fmt.Printf("pingpong ns_per_rt=%.1f ns ns_per_rt_p1=%.1f ns rts=%d rts_p1=%d\n",
		float64(el2.Nanoseconds())/float64(rts2), float64(el1.Nanoseconds())/float64(rts1), rts2, rts1)
}
