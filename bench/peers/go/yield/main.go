// yield — the Go peer of goro's bench/yield.cpp; the workload is defined in
// docs/benchmarks.md (section "yield").
//
// GOMAXPROCS(1): two goroutines each call runtime.Gosched() K times while main
// waits for both. Timed from just before the first spawn until both are done.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	k        = 5000000
	expected = 2 * k
)

func main() {
	runtime.GOMAXPROCS(1)

	var yields int64
	var wg sync.WaitGroup
	body := func() {
		defer wg.Done()
		var mine int64 // counted locally: the loop measures Gosched, not an atomic
		for i := 0; i < k; i++ {
			runtime.Gosched()
			mine++
		}
		atomic.AddInt64(&yields, mine)
	}

	wg.Add(2)
	t0 := time.Now()
	go body()
	go body()
	wg.Wait()
	elapsed := time.Since(t0)

	if got := atomic.LoadInt64(&yields); got != expected {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: yields done %d, want %d\n", got, expected)
		os.Exit(1)
	}
	fmt.Printf("yield ns_per_switch=%.1f ns switches=%d\n",
		float64(elapsed.Nanoseconds())/expected, yields)
}
