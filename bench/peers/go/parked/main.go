// parked — the Go peer of goro's bench/parked.cpp; the workload is defined in
// docs/benchmarks.md (section "parked"). It measures resident memory per blocked
// goroutine; nothing is timed.
//
// Usage: parked [N]   (N defaults to 1000000)
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// vmRSSBytes returns VmRSS from /proc/self/status in bytes, or -1.
func vmRSSBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "VmRSS:" && fields[2] == "kB" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return -1
			}
			return kb * 1024
		}
	}
	return -1
}

// label names N as docs/benchmarks.md, "parked", says: 1M, 100k, or the plain number.
func label(n int64) string {
	switch {
	case n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.FormatInt(n, 10)
}

func main() {
	runtime.GOMAXPROCS(2)

	n := int64(1000000)
	if len(os.Args) > 1 {
		v, err := strconv.ParseInt(os.Args[1], 10, 64)
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "usage: parked [N > 0]")
			os.Exit(2)
		}
		n = v
	}

	runtime.GC()
	before := vmRSSBytes()

	gate := make(chan struct{}) // unbuffered: every receive blocks until close
	var started, released int64
	var allStarted, allReleased sync.WaitGroup
	allStarted.Add(int(n))
	allReleased.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			allStarted.Done()
			<-gate // returns (closed) once main closes the channel
			atomic.AddInt64(&released, 1)
			allReleased.Done()
		}()
	}
	allStarted.Wait()
	after := vmRSSBytes()
	close(gate)
	allReleased.Wait()

	if got := atomic.LoadInt64(&released); got != n {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: released %d, want %d\n", got, n)
		os.Exit(1)
	}
	if before < 0 || after < 0 {
		fmt.Fprintln(os.Stderr, "CHECK FAILED: cannot read VmRSS from /proc/self/status")
		os.Exit(1)
	}
	if after <= before {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: after (%d B) <= before (%d B)\n", after, before)
		os.Exit(1)
	}
	perG := float64(after-before) / float64(n)
	fmt.Printf("parked bytes_per_g_%s=%.0f B n=%d released=%d\n", label(n), perG, n, released)
}
