package chatshippertest

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// DropMode says whether and when a Fault closes the connection without answering.
type DropMode int

const (
	// DropNone answers normally (with the fault's Status, if any).
	DropNone DropMode = iota
	// DropBefore closes the connection without acting on the request.
	DropBefore
	// DropAfter acts on the request (it is stored, commands run), then closes
	// the connection without answering: the client cannot know it succeeded.
	DropAfter
)

// Fault makes matching requests misbehave. Faults are checked in the order
// they were injected, after the request is recorded; the first that matches
// (and wins its Probability roll) applies.
type Fault struct {
	// Method matches the request method ("" = any).
	Method string
	// PathPrefix matches the start of the URL path, e.g. "/v2/conversations" ("" = any).
	PathPrefix string
	// Count is how many requests the fault applies to; 0 = unlimited.
	Count int
	// Probability in (0,1] applies the fault randomly (seeded by WithSeed); 0 = always.
	Probability float64
	// Status is the status code to answer; 0 answers normally (useful with Delay).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Message is the error message of the body; default the status text.
	Message string
	// Drop closes the connection instead of answering.
	Drop DropMode
	// Delay waits before answering; a request whose context ends first gets
	// no answer. Without After (or DropAfter) the wait comes before the
	// request is acted on, so a client that gives up first leaves nothing
	// stored; with After it comes after.
	Delay time.Duration
	// After acts on the request first (as the server normally would), then
	// waits Delay and answers Status instead of the real response, drops the
	// connection (Drop), or, with neither, sends the real response late
	// (After with a Delay beyond the client's timeout: stored, but the
	// client never hears so).
	After bool
}

// faultEntry is an injected fault with its remaining count.
type faultEntry struct {
	f         Fault
	remaining int
}

// InjectFault adds a fault. It panics on an invalid fault (negative Count or
// Delay, Probability outside [0,1], Status outside 100–599), a programming
// error in the test.
func (s *Server) InjectFault(f Fault) {
	switch {
	case f.Count < 0:
		panic("chatshippertest: InjectFault: negative Count")
	case f.Probability < 0 || f.Probability > 1:
		panic("chatshippertest: InjectFault: Probability must be within [0,1]")
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		panic(fmt.Sprintf("chatshippertest: InjectFault: invalid Status %d", f.Status))
	case f.Delay < 0:
		panic("chatshippertest: InjectFault: negative Delay")
	case f.Drop < DropNone || f.Drop > DropAfter:
		panic("chatshippertest: InjectFault: invalid Drop mode")
	}
	s.faultMu.Lock()
	s.faults = append(s.faults, &faultEntry{f: f, remaining: f.Count})
	s.faultMu.Unlock()
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	s.faults = nil
	s.faultMu.Unlock()
}

// takeFault finds the fault for r, consuming one of its count.
func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, e := range s.faults {
		if e.f.Method != "" && !strings.EqualFold(e.f.Method, r.Method) || !strings.HasPrefix(r.URL.Path, e.f.PathPrefix) {
			continue
		}
		if e.f.Probability > 0 {
			s.rngMu.Lock()
			roll := s.rng.Float64()
			s.rngMu.Unlock()
			if roll >= e.f.Probability {
				continue
			}
		}
		if e.f.Count > 0 {
			e.remaining--
			if e.remaining == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return e.f, true
	}
	return Fault{}, false
}

// applyFault answers r as f says. raw is the connection's own writer, needed
// to hijack it for drops.
func (s *Server) applyFault(w, raw http.ResponseWriter, r *http.Request, body []byte, f Fault) {
	if f.After {
		s.applyAfter(w, raw, r, body, f)
		return
	}
	if !s.waitFault(raw, r, f.Delay) {
		return
	}
	switch {
	case f.Drop == DropBefore:
		dropConn(raw)
	case f.Drop == DropAfter:
		// Act for real; the answer is thrown away.
		s.serve(&memWriter{header: http.Header{}}, r, body)
		dropConn(raw)
	case f.Status == 0:
		s.serve(w, r, body)
	default:
		writeFaultStatus(w, f)
	}
}

// applyAfter acts on r, then waits f.Delay, then drops the connection,
// answers f.Status, or sends the real answer.
func (s *Server) applyAfter(w, raw http.ResponseWriter, r *http.Request, body []byte, f Fault) {
	real := &memWriter{header: http.Header{}}
	s.serve(real, r, body) // acted on: stored, commands run
	if !s.waitFault(raw, r, f.Delay) {
		return
	}
	switch {
	case f.Drop != DropNone:
		dropConn(raw)
	case f.Status != 0:
		writeFaultStatus(w, f)
	default:
		for k, v := range real.header {
			w.Header()[k] = v
		}
		status := real.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(real.buf.Bytes())
	}
}

// waitFault waits d before a fault's answer. It reports false when the
// request ended first (nothing is answered) or the server is closing (the
// connection is dropped).
func (s *Server) waitFault(raw http.ResponseWriter, r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		dropConn(raw)
		return false
	}
}

// writeFaultStatus answers a fault's Status with the API's error body.
func writeFaultStatus(w http.ResponseWriter, f Fault) {
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	writeJSON(w, f.Status, map[string]any{"error": map[string]any{"message": msg}})
}

// dropConn closes the client connection without a response: a TCP reset for
// real connections, a transport error for in-process clients.
func dropConn(w http.ResponseWriter) {
	if d, ok := w.(interface{ drop() }); ok {
		d.drop()
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
