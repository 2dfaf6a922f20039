// skynet — the Go peer of goro's bench/skynet.cpp; the workload is defined in
// docs/benchmarks.md (section "skynet").
//
// skynet(c, num, size, div): a leaf (size 1) sends num on c; an inner node creates
// an unbuffered channel, spawns its 10 children on it, receives their 10 sums and
// sends the total on c. 1,111,111 goroutines and 111,112 channels. Timed from just
// before creating the root channel until the root sum is received.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

func skynet(c chan int64, num, size, div int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	for i := int64(0); i < div; i++ {
		go skynet(rc, num+i*(size/div), size/div, div)
	}
	var sum int64
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	runtime.GOMAXPROCS(2)

	t0 := time.Now()
	c := make(chan int64)
	go skynet(c, 0, 1000000, 10)
	sum := <-c
	elapsed := time.Since(t0)

	const want = 499999500000
	if sum != want {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("skynet total_ms=%.2f ms sum=%d\n", float64(elapsed.Nanoseconds())/1e6, sum)
}
