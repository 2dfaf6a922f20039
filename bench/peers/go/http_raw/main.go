// http_raw — the raw net.Conn peer of goro's bench/http.cpp; the workload is
// defined in docs/benchmarks.md (section "http"). GOMAXPROCS(2). The server
// is what goro's is: one goroutine per connection reading requests through a
// 4 KiB buffer, parsing each head (request line, Content-Length body,
// "Connection: close", HTTP/1.0) and writing the fixed "hello" response. The
// load generator is the one shared with bench/peers/go/http, in
// internal/httpload.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"

	"goro-bench/internal/httpload"
)

func serve(c net.Conn) error {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	resp := []byte(httpload.Response)
	for {
		h, err := httpload.ReadHead(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		sp1, sp2 := strings.IndexByte(h.FirstLine, ' '), strings.LastIndexByte(h.FirstLine, ' ')
		if sp1 < 0 || sp2 == sp1 {
			return errors.New("malformed request line")
		}
		version := h.FirstLine[sp2+1:]
		http10 := version == "HTTP/1.0"
		if !http10 && version != "HTTP/1.1" {
			return errors.New("unsupported HTTP version")
		}
		if h.ContentLength != 0 {
			if _, err := r.Discard(h.ContentLength); err != nil {
				return err
			}
		}
		if _, err := c.Write(resp); err != nil {
			return err
		}
		if h.Close || (http10 && !h.KeepAlive) {
			return nil
		}
	}
}

func main() {
	runtime.GOMAXPROCS(2)
	httpload.Watchdog()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "http: error:", err)
		os.Exit(1)
	}
	var servers sync.WaitGroup
	servers.Add(1)
	go func() {
		defer servers.Done()
		for i := 0; i < httpload.Conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				httpload.NoteError(err)
				return
			}
			servers.Add(1)
			go func() {
				defer servers.Done()
				if err := serve(c); err != nil {
					httpload.NoteError(err)
				}
			}()
		}
	}()
	httpload.Run(ln.Addr().String(), func() {
		servers.Wait()
		ln.Close()
	})
}
