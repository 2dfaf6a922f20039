// http — the net/http peer of goro's bench/http.cpp; the workload is defined
// in docs/benchmarks.md (section "http"). GOMAXPROCS(2). The server is
// net/http's, on a listener on 127.0.0.1:0, answering every request with
// "hello"; the load generator (256 keep-alive connections, 2 s) is the one
// shared with bench/peers/go/http_raw, in internal/httpload.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"

	"goro-bench/internal/httpload"
)

func main() {
	runtime.GOMAXPROCS(2)
	httpload.Watchdog()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "http: error:", err)
		os.Exit(1)
	}
	hello := []byte("hello")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(hello)
	})}
	go srv.Serve(ln)
	httpload.Run(ln.Addr().String(), func() { srv.Close() })
}
