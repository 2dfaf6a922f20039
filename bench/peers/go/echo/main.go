// echo — the Go peer of goro's bench/echo.cpp; the workload is defined in
// docs/benchmarks.md (section "echo").
//
// GOMAXPROCS(2). A listener on 127.0.0.1:0 accepts exactly 64 connections and
// serves each in its own goroutine: read exactly 64 bytes, write them back,
// until EOF. 64 client goroutines dial (TCP_NODELAY is Go's default) and wait
// for a common start signal; then, until the stop flag is set, each writes a
// 64-byte message (bytes 0-7: client id, 8-15: round-trip counter, little
// endian; the rest zero), reads exactly 64 bytes back and compares them. The
// main goroutine waits until all 64 have dialed, starts the clock, releases
// them, sleeps 2 s, sets the stop flag, waits for every client to finish its
// round trip in flight and close, stops the clock, then waits for the server
// goroutines to see EOF and closes the listener. A watchdog exits non-zero
// after 32 s.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	conns    = 64
	msgBytes = 64
	runFor   = 2 * time.Second
)

var (
	errMu      sync.Mutex
	firstError error
	errorCount int64
)

func noteError(err error) {
	atomic.AddInt64(&errorCount, 1)
	errMu.Lock()
	if firstError == nil {
		firstError = err
	}
	errMu.Unlock()
}

func main() {
	runtime.GOMAXPROCS(2)
	go func() {
		time.Sleep(32 * time.Second)
		fmt.Fprintln(os.Stderr, "echo: watchdog: still running after 32 s")
		os.Exit(2)
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo: error:", err)
		os.Exit(1)
	}
	addr := ln.Addr().String()

	var servers sync.WaitGroup
	servers.Add(1)
	go func() {
		defer servers.Done()
		for i := 0; i < conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				noteError(err)
				return
			}
			servers.Add(1)
			go func(c net.Conn) {
				defer servers.Done()
				defer c.Close()
				buf := make([]byte, msgBytes)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						if err != io.EOF {
							noteError(err)
						}
						return
					}
					if _, err := c.Write(buf); err != nil {
						noteError(err)
						return
					}
				}
			}(c)
		}
	}()

	start := make(chan struct{})
	var stop int32
	var rts, mismatches int64
	var dialed, clients sync.WaitGroup
	for id := 0; id < conns; id++ {
		dialed.Add(1)
		clients.Add(1)
		go func(id int) {
			defer clients.Done()
			c, err := net.Dial("tcp", addr)
			dialed.Done()
			if err != nil {
				noteError(err)
				return
			}
			<-start
			out := make([]byte, msgBytes)
			in := make([]byte, msgBytes)
			binary.LittleEndian.PutUint64(out[0:8], uint64(id))
			var n int64
			for atomic.LoadInt32(&stop) == 0 {
				binary.LittleEndian.PutUint64(out[8:16], uint64(n))
				if _, err := c.Write(out); err != nil {
					noteError(err)
					break
				}
				if _, err := io.ReadFull(c, in); err != nil {
					noteError(err)
					break
				}
				if !bytes.Equal(in, out) {
					atomic.AddInt64(&mismatches, 1)
				}
				n++
			}
			c.Close()
			atomic.AddInt64(&rts, n)
		}(id)
	}
	dialed.Wait()
	t0 := time.Now()
	close(start)
	time.Sleep(runFor)
	atomic.StoreInt32(&stop, 1)
	clients.Wait()
	secs := time.Since(t0).Seconds()
	servers.Wait()
	ln.Close()

	if errorCount != 0 || mismatches != 0 || rts <= 0 {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: %d I/O errors (first: %v), %d mismatched echoes, %d round trips\n",
			errorCount, firstError, mismatches, rts)
		os.Exit(1)
	}
	fmt.Printf("echo rt_per_s=%.0f rt/s conns=%d msg_bytes=%d secs=%.3f rts=%d\n",
		float64(rts)/secs, conns, msgBytes, secs, rts)
}
