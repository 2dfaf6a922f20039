// mutex — the Go peer of goro's bench/mutex.cpp; the workload is defined in
// docs/benchmarks.md (section "mutex").
//
// G = 100 goroutines each do K = 300,000 times Lock(); counter++; Unlock() on one
// sync.Mutex around a plain counter; main waits for them. Timed from just before
// the first spawn until all G have finished.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	g        = 100
	k        = 300000
	expected = g * k
)

func main() {
	runtime.GOMAXPROCS(2)

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
	fmt.Printf("mutex ns_per_pair=%.1f ns counter=%d\n", float64(elapsed.Nanoseconds())/expected, counter)
}
