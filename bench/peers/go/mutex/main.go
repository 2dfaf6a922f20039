// mutex — the Go peer of goro's bench/mutex.cpp; the workload is defined in
// docs/benchmarks.md (section "mutex").
//
// G = 100 goroutines each do K = 300,000 times Lock(); counter++; Unlock() on one
// sync.Mutex around a plain counter; main waits for them. Timed from just before
// the first spawn until all G have finished. With the argument `uncontended`:
// G = 1, K = 30,000,000, reported as ns_per_pair_uncontended.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(2)
	g, k, metric := 100, 300000, "ns_per_pair"
	if len(os.Args) > 1 && os.Args[1] == "uncontended" {
		g, k, metric = 1, 30000000, "ns_per_pair_uncontended"
	}
	expected := int64(g * k)

	var mu sync.Mutex
	var counter int64 // plain: the mutex is what protects it
	var wg sync.WaitGroup
	wg.Add(g)
	t0 := time.Now()
	for i := 0; i < g; i++ {
		go func() {
			defer wg.Done()
			for j := 0; j < k; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)

	if counter != expected {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: counter %d, want %d\n", counter, expected)
		os.Exit(1)
	}
	fmt.Printf("mutex %s=%.1f ns counter=%d\n", metric, float64(elapsed.Nanoseconds())/float64(expected), counter)
}
