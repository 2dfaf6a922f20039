// blocking — the Go peer of goro's bench/blocking.cpp; the workload is defined
// in docs/benchmarks.md (section "blocking").
//
// GOMAXPROCS(1). Two goroutines ping-pong 1,000,000 round trips over two
// unbuffered channels (A, the main goroutine, starts with x = 0 and repeats
// a <- x; x = <-b; B receives v on a and sends v + 1 on b): first alone (T0),
// then again while a third goroutine loops on a raw 100 ms nanosleep system
// call (syscall.Syscall(SYS_NANOSLEEP)), started 1 ms before the second run
// (T1). kept_pct = 100 * T0 / T1.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const n = 1000000

// pingpong does n round trips with a fresh partner goroutine; it returns the
// elapsed time and the final x (the check wants x == n).
func pingpong() (time.Duration, int64) {
	a := make(chan int64)
	b := make(chan int64)
	go func() {
		for v := range a {
			b <- v + 1
		}
	}()
	var x int64
	t0 := time.Now()
	for i := 0; i < n; i++ {
		a <- x
		x = <-b
	}
	el := time.Since(t0)
	close(a)
	return el, x
}

func main() {
	runtime.GOMAXPROCS(1)
	t0, x0 := pingpong()
	var stop int32
	var calls int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for atomic.LoadInt32(&stop) == 0 {
			ts := syscall.Timespec{Sec: 0, Nsec: 100000000}
			syscall.Syscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
			atomic.AddInt64(&calls, 1)
		}
	}()
	time.Sleep(time.Millisecond)
	t1, x1 := pingpong()
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	if x0 != n || x1 != n || atomic.LoadInt64(&calls) < 1 {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: x %d and %d after %d round trips each, blocker calls %d\n", x0, x1, n, calls)
		os.Exit(1)
	}
	ns0 := float64(t0.Nanoseconds())
	ns1 := float64(t1.Nanoseconds())
	fmt.Printf("blocking kept_pct=%.1f %% rt_ns_alone=%.1f ns rt_ns_with_blocker=%.1f ns blocker_calls=%d\n",
		100*ns0/ns1, ns0/n, ns1/n, atomic.LoadInt64(&calls))
}
