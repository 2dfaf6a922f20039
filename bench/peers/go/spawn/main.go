// spawn — the Go peer of goro's bench/spawn.cpp; the workload is defined in
// docs/benchmarks.md (section "spawn").
//
// The main goroutine sets a WaitGroup to N, spawns N goroutines in a tight loop
// (each body: wg.Done()), then waits. Timed from just before the first spawn
// until the wait returns.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

const n = 500000

func main() {
	runtime.GOMAXPROCS(2)

	var wg sync.WaitGroup
	wg.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go wg.Done()
	}
	wg.Wait() // check: returning proves all n ran
	elapsed := time.Since(t0)

	fmt.Printf("spawn ns_per_spawn=%.1f ns n=%d\n", float64(elapsed.Nanoseconds())/n, n)
}
