// Package httpload is the load generator and the result line of the Go peers
// of goro's bench/http.cpp (docs/benchmarks.md, section "http"), shared by
// bench/peers/go/http (net/http) and bench/peers/go/http_raw (a raw net.Conn
// loop), which differ only in their server.
package httpload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	Conns  = 256
	runFor = 2 * time.Second
)

// Request is what every client sends; Response what the servers answer
// (net/http adds a Date header).
const (
	Request  = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
	Response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello"
)

var (
	errMu      sync.Mutex
	firstError error
	errorCount int64
)

// NoteError records an I/O or protocol error; any fails the run's check.
func NoteError(err error) {
	atomic.AddInt64(&errorCount, 1)
	errMu.Lock()
	if firstError == nil {
		firstError = err
	}
	errMu.Unlock()
}

// Watchdog ends the program with exit status 2 after 32 s.
func Watchdog() {
	go func() {
		time.Sleep(32 * time.Second)
		fmt.Fprintln(os.Stderr, "http: watchdog: still running after 32 s")
		os.Exit(2)
	}()
}

// Head is a message head: its first line and the headers the workload reads.
type Head struct {
	FirstLine     string
	ContentLength int
	Close         bool // "Connection: close"
	KeepAlive     bool // "Connection: keep-alive"
}

// ReadHead reads one message head (up to its blank line) from r; io.EOF when
// r ends before its first byte.
func ReadHead(r *bufio.Reader) (Head, error) {
	var h Head
	first := true
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if err == io.EOF && first && len(line) == 0 {
				return h, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return h, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if first {
			if len(line) == 0 {
				return h, errors.New("empty first line")
			}
			h.FirstLine = string(line)
			first = false
			continue
		}
		if len(line) == 0 {
			return h, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return h, errors.New("malformed header line")
		}
		name, value := string(line[:colon]), strings.TrimSpace(string(line[colon+1:]))
		switch {
		case strings.EqualFold(name, "content-length"):
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return h, errors.New("bad Content-Length")
			}
			h.ContentLength = n
		case strings.EqualFold(name, "connection"):
			h.Close = strings.EqualFold(value, "close")
			h.KeepAlive = strings.EqualFold(value, "keep-alive")
		}
	}
}

// Run dials addr Conns times, drives the load for 2 s, checks every response,
// prints the result line and exits non-zero when a check failed. wait, when
// not nil, is called after the clients are done (the servers' end).
func Run(addr string, wait func()) {
	start := make(chan struct{})
	var stop int32
	var reqs, bad int64
	lat := make([][]uint32, Conns)
	var dialed, clients sync.WaitGroup
	for id := 0; id < Conns; id++ {
		dialed.Add(1)
		clients.Add(1)
		go func(id int) {
			defer clients.Done()
			c, err := net.Dial("tcp", addr)
			dialed.Done()
			if err != nil {
				NoteError(err)
				return
			}
			<-start
			r := bufio.NewReaderSize(c, 4096)
			req := []byte(Request)
			body := make([]byte, 0, 64)
			mine := make([]uint32, 0, 4096)
			var n int64
			for atomic.LoadInt32(&stop) == 0 {
				t0 := time.Now()
				if _, err := c.Write(req); err != nil {
					NoteError(err)
					break
				}
				h, err := ReadHead(r)
				if err != nil {
					NoteError(err)
					break
				}
				if !strings.HasPrefix(h.FirstLine, "HTTP/1.1 200 ") {
					atomic.AddInt64(&bad, 1)
					break
				}
				body = body[:h.ContentLength]
				if _, err := io.ReadFull(r, body); err != nil {
					NoteError(err)
					break
				}
				if string(body) != "hello" {
					atomic.AddInt64(&bad, 1)
				}
				ns := time.Since(t0).Nanoseconds()
				if ns > 1<<32-1 {
					ns = 1<<32 - 1
				}
				mine = append(mine, uint32(ns))
				n++
			}
			c.Close()
			lat[id] = mine
			atomic.AddInt64(&reqs, n)
		}(id)
	}
	dialed.Wait()
	t0 := time.Now()
	close(start)
	time.Sleep(runFor)
	atomic.StoreInt32(&stop, 1)
	clients.Wait()
	secs := time.Since(t0).Seconds()
	if wait != nil {
		wait()
	}

	if errorCount != 0 || bad != 0 || reqs <= 0 {
		fmt.Fprintf(os.Stderr, "CHECK FAILED: %d I/O errors (first: %v), %d bad responses, %d requests\n",
			errorCount, firstError, bad, reqs)
		os.Exit(1)
	}
	var all []uint32
	for _, v := range lat {
		all = append(all, v...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p99 := all[(len(all)-1)*99/100]
	fmt.Printf("http req_per_s=%.0f req/s p99_us=%.1f us conns=%d secs=%.3f reqs=%d\n",
		float64(reqs)/secs, float64(p99)/1000, Conns, secs, reqs)
}
