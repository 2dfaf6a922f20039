// chan_mpmc — the Go peer of goro's bench/chan_mpmc.cpp; the workload is defined
// in docs/benchmarks.md (section "chan_mpmc").
//
// One channel of capacity 1024 carrying int64; P = 4 producers, then C = 4
// consumers. Producer p sends p, p+4, p+8, ... below N; each consumer sums what it
// receives into its own slot (slots 128 bytes apart). Main waits for the
// producers, closes the channel, waits for the consumers. Timed from just before
// the first spawn until the last consumer is done.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	n         = 10000000
	producers = 4
	consumers = 4
)

type slot struct { // one consumer's sum, 128 bytes from the next
	sum int64
	_   [120]byte
}

func main() {
	runtime.GOMAXPROCS(2)

	var sums [consumers]slot
	ch := make(chan int64, 1024)
	var prod, cons sync.WaitGroup
	t0 := time.Now()
	for p := 0; p < producers; p++ {
		prod.Add(1)
		go func(p int64) {
			defer prod.Done()
			for v := p; v < n; v += producers {
				ch <- v
			}
		}(int64(p))
	}
	for c := 0; c < consumers; c++ {
		cons.Add(1)
		go func(s *slot) {
			defer cons.Done()
			var sum int64
			for v := range ch {
				sum += v
			}
			s.sum = sum
		}(&sums[c])
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	elapsed := time.Since(t0)

	var sum int64
	for i := range sums {
		sum += sums[i].sum
	}
	const want = int64(n) * (n - 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("chan_mpmc ns_per_item=%.1f ns sum=%d\n", float64(elapsed.Nanoseconds())/n, sum)
}
