// fib — the Go peer of goro's bench/fib.cpp; the workload is defined in
// docs/benchmarks.md (section "fib").
//
// Fork-join Fibonacci: fib(n) for n >= 2 makes a channel of capacity 1, spawns a
// goroutine computing fib(n-1) into it, computes fib(n-2) inline, then receives.
// Main calls fib(28) directly (514,228 goroutines and channels). Timed: the call fib(28).
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

const n = 28

func fib(n int) int64 {
	if n < 2 {
		return int64(n)
	}
	c := make(chan int64, 1)
	go func() { c <- fib(n - 1) }()
	b := fib(n - 2)
	a := <-c
	return a + b
}

func main() {
	runtime.GOMAXPROCS(2)

	t0 := time.Now()
	result := fib(n)
	elapsed := time.Since(t0)

	if result != 317811 {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: fib(%d) = %d, want 317811\n", n, result)
		os.Exit(1)
	}
	fmt.Printf("fib total_ms=%.2f ms n=%d result=%d\n", float64(elapsed.Nanoseconds())/1e6, n, result)
}
