// Command server starts the fake ChatShipper API of package chatshippertest
// on a loopback port for the conformance program in the folder above, which
// drives it with chipchat, the official Node SDK.
//
// It prints one line of JSON on stdout: the API host and base URL, the
// seeded tokens, logins and ids (all fake), and the URL of a small control
// API on another loopback port:
//
//	POST /advance?by=25h       moves the fake's clock (token expiry)
//	GET  /requests?path=/v2/x  counts the requests that reached path
//	POST /wait                 waits for pending webhook deliveries and lists them
//
// It runs until stdin is closed or it gets SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// clock is the fake's time: the wall clock plus an offset the control API moves.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// info is what the conformance program reads from the first line of stdout.
type info struct {
	Host       string               `json:"host"`
	URL        string               `json:"url"`
	Control    string               `json:"control"`
	Token      string               `json:"token"`
	AdminToken string               `json:"adminToken"`
	AgentToken string               `json:"agentToken"`
	GuestToken string               `json:"guestToken"`
	Seed       chatshippertest.Seed `json:"seed"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance server:", err)
		os.Exit(1)
	}
}

func run() error {
	clk := &clock{}
	srv := chatshippertest.NewServer(nil,
		chatshippertest.WithRateLimit(0),
		chatshippertest.WithClock(clk.now),
		chatshippertest.WithTokenTTL(time.Hour),
		chatshippertest.WithWebhookRetry(100*time.Millisecond, 3))
	defer srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl := &http.Server{Handler: control(srv, clk), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctl.Serve(ln) }()
	defer func() { _ = ctl.Close() }()

	out, err := json.Marshal(info{
		Host: strings.TrimSuffix(srv.URL, "/v2/"), URL: srv.URL, Control: "http://" + ln.Addr().String(),
		Token: srv.Token, AdminToken: srv.AdminToken, AgentToken: srv.AgentToken, GuestToken: srv.GuestToken,
		Seed: srv.Seed,
	})
	if err != nil {
		return err
	}
	fmt.Println(string(out))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-stop:
	case <-eof:
	}
	return nil
}

// control is the control API (see the package comment).
func control(srv *chatshippertest.Server, clk *clock) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /advance", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("by"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		clk.advance(d)
		reply(w, map[string]any{"now": clk.now()})
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		n := 0
		for _, rr := range srv.Requests() {
			if rr.Path == path {
				n++
			}
		}
		reply(w, map[string]any{"count": n})
	})
	mux.HandleFunc("POST /wait", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		if err := srv.WaitDeliveries(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		reply(w, map[string]any{"deliveries": srv.WebhookDeliveries()})
	})
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
