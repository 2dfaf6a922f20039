// timers — the Go peer of goro's bench/timers.cpp; the workload is defined in
// docs/benchmarks.md (section "timers").
//
// GOMAXPROCS(2). N = 100,000 goroutines; goroutine i (0-based, in spawn order)
// sleeps d_i = 1 + ((i * 2654435761) mod 2^32) mod 50 ms with time.Sleep. Each
// reads the clock before and after its sleep and counts itself early if it
// slept less than d_i, then calls Done on a WaitGroup of N. The main goroutine
// computes d_i while spawning all N, then waits. Timed: wall clock and process
// CPU time (getrusage(RUSAGE_SELF), user + system) from just before the first
// spawn until the wait returns.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const n = 100000

func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	ms := func(tv syscall.Timeval) float64 { return float64(tv.Sec)*1e3 + float64(tv.Usec)/1e3 }
	return ms(ru.Utime) + ms(ru.Stime)
}

func main() {
	runtime.GOMAXPROCS(2)
	var early int64
	var wg sync.WaitGroup
	wg.Add(n)
	cpu0 := cpuMs()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		d := time.Duration(1+(uint64(i)*2654435761%(1<<32))%50) * time.Millisecond
		go func() {
			s := time.Now()
			time.Sleep(d)
			if time.Since(s) < d {
				atomic.AddInt64(&early, 1)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	wall := float64(time.Since(t0).Nanoseconds()) / 1e6
	cpu := cpuMs() - cpu0
	if early != 0 || wall < 50 {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: early=%d total_ms=%.2f\n", early, wall)
		os.Exit(1)
	}
	fmt.Printf("timers total_ms=%.2f ms cpu_ms=%.2f ms n=%d early=%d\n", wall, cpu, n, early)
}
