package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// maxWait bounds one long poll of POST /_fake/deliveries/wait.
const maxWait = 60 * time.Second

// controlMux is the control API (see the package doc).
func (f *fake) controlMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_fake/{$}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, f.info())
	})
	mux.HandleFunc("POST /_fake/reset", func(w http.ResponseWriter, r *http.Request) {
		if err := f.reset(); err != nil {
			replyError(w, http.StatusInternalServerError, err.Error())
			return
		}
		reply(w, http.StatusOK, f.info())
	})
	mux.HandleFunc("GET /_fake/clock", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, clockState(f.clk))
	})
	mux.HandleFunc("POST /_fake/clock", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Set     string `json:"set"`
			Advance string `json:"advance"`
			Frozen  *bool  `json:"frozen"`
		}
		if !decodeStrict(w, r, &req) {
			return
		}
		now, frozen := f.clk.state()
		switch {
		case req.Set != "" && req.Advance != "":
			replyError(w, http.StatusBadRequest, "give set or advance, not both")
			return
		case req.Set != "":
			t, err := time.Parse(time.RFC3339Nano, req.Set)
			if err != nil {
				replyError(w, http.StatusBadRequest, fmt.Sprintf("set: %q is not an RFC 3339 time", req.Set))
				return
			}
			now = t
		case req.Advance != "":
			d, err := time.ParseDuration(req.Advance)
			if err != nil {
				replyError(w, http.StatusBadRequest, fmt.Sprintf("advance: %q is not a duration such as \"90s\" or \"25h\"", req.Advance))
				return
			}
			now = now.Add(d)
		case req.Frozen == nil:
			replyError(w, http.StatusBadRequest, "give set, advance or frozen")
			return
		}
		if req.Frozen != nil {
			frozen = *req.Frozen
		}
		if err := f.clk.set(now, frozen); err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		reply(w, http.StatusOK, clockState(f.clk))
	})
	mux.HandleFunc("POST /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		spec, err := parseFault(body)
		if err == nil {
			err = injectFault(f.cur.Load().srv, spec)
		}
		if err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		reply(w, http.StatusCreated, spec)
	})
	mux.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		f.cur.Load().srv.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_fake/deliveries", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"deliveries": deliveries(f.cur.Load().srv)})
	})
	mux.HandleFunc("POST /_fake/deliveries/wait", func(w http.ResponseWriter, r *http.Request) {
		timeout := 10 * time.Second
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				replyError(w, http.StatusBadRequest, fmt.Sprintf("timeout: %q is not a positive duration such as \"10s\"", v))
				return
			}
			timeout = min(d, maxWait)
		}
		srv := f.cur.Load().srv
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		defer context.AfterFunc(f.ctx, cancel)() // the command stops: answer now
		err := srv.WaitDeliveries(ctx)
		out := map[string]any{"idle": err == nil, "deliveries": deliveries(srv)}
		if err != nil {
			out["error"] = map[string]any{"message": "deliveries still pending after " + timeout.String()}
			reply(w, http.StatusGatewayTimeout, out)
			return
		}
		reply(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /_fake/requests", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		method, path, prefix := q.Get("method"), q.Get("path"), q.Get("prefix")
		out := []recorded{}
		for _, rr := range f.cur.Load().srv.Requests() {
			if method != "" && !strings.EqualFold(rr.Method, method) || path != "" && rr.Path != path ||
				!strings.HasPrefix(rr.Path, prefix) {
				continue
			}
			out = append(out, record(rr))
		}
		reply(w, http.StatusOK, map[string]any{"count": len(out), "requests": out})
	})
	mux.HandleFunc("DELETE /_fake/requests", func(w http.ResponseWriter, r *http.Request) {
		f.cur.Load().srv.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/_fake/", func(w http.ResponseWriter, r *http.Request) {
		replyError(w, http.StatusNotFound, "no such control endpoint: "+r.Method+" "+r.URL.Path+" (see GET /_fake/ and the command's documentation)")
	})
	return mux
}

func clockState(c *clock) map[string]any {
	now, frozen := c.state()
	return map[string]any{"now": now.UTC().Format(time.RFC3339Nano), "frozen": frozen}
}

// faultSpec is the JSON form of a chatshippertest.Fault.
type faultSpec struct {
	Method      string  `json:"method,omitempty"`
	Path        string  `json:"path,omitempty"`
	Count       int     `json:"count,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	Status      int     `json:"status,omitempty"`
	RetryAfter  string  `json:"retryAfter,omitempty"`
	Message     string  `json:"message,omitempty"`
	Drop        string  `json:"drop,omitempty"`
	Delay       string  `json:"delay,omitempty"`
	After       bool    `json:"after,omitempty"`
}

func parseFault(data []byte) (faultSpec, error) {
	var spec faultSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, fmt.Errorf("a fault is a JSON object with the fields method, path, count, probability, status, retryAfter, message, drop, delay and after: %v", err)
	}
	if _, err := spec.fault(); err != nil {
		return spec, err
	}
	return spec, nil
}

func (s faultSpec) fault() (chatshippertest.Fault, error) {
	f := chatshippertest.Fault{Method: s.Method, PathPrefix: s.Path, Count: s.Count, Probability: s.Probability,
		Status: s.Status, RetryAfter: s.RetryAfter, Message: s.Message, After: s.After}
	// The checks of chatshippertest.InjectFault, so that a -fault flag is
	// refused with the flags (TestFaultChecksMatchThePackage keeps them the same).
	switch {
	case s.Count < 0:
		return f, fmt.Errorf("count: %d: must be 0 (unlimited) or more", s.Count)
	case s.Probability < 0 || s.Probability > 1:
		return f, fmt.Errorf("probability: %v: must be within [0, 1] (0: always)", s.Probability)
	case s.Status != 0 && (s.Status < 100 || s.Status > 599):
		return f, fmt.Errorf("status: %d is not an HTTP status (100 to 599)", s.Status)
	}
	switch s.Drop {
	case "", "none":
	case "before":
		f.Drop = chatshippertest.DropBefore
	case "after":
		f.Drop = chatshippertest.DropAfter
	default:
		return f, fmt.Errorf("drop: %q is not before, after or none", s.Drop)
	}
	if s.Delay != "" {
		d, err := time.ParseDuration(s.Delay)
		f.Delay = d
		if err != nil || d < 0 {
			return f, fmt.Errorf("delay: %q is not a duration such as \"2s\"", s.Delay)
		}
	}
	if s.Status == 0 && f.Drop == chatshippertest.DropNone && f.Delay == 0 {
		return f, fmt.Errorf("a fault needs a status, a drop or a delay")
	}
	return f, nil
}

// injectFault injects spec; the package's refusals (a negative count, a
// probability outside [0,1], ...) are errors here, not panics.
func injectFault(srv *chatshippertest.Server, spec faultSpec) (err error) {
	f, err := spec.fault()
	if err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	srv.InjectFault(f)
	return nil
}

// delivery is the JSON form of a chatshippertest.WebhookDelivery.
type delivery struct {
	Service   string `json:"service"`
	URL       string `json:"url"`
	Event     string `json:"event"`
	ID        string `json:"id"`
	Attempts  int    `json:"attempts"`
	Status    int    `json:"status"`
	Delivered bool   `json:"delivered"`
	Repeat    int    `json:"repeat"`
}

func deliveries(srv *chatshippertest.Server) []delivery {
	out := []delivery{}
	for _, d := range srv.WebhookDeliveries() {
		out = append(out, delivery{Service: d.Service, URL: wire.RedactURL(d.URL, redacted, nil), Event: d.Event, ID: d.ID,
			Attempts: d.Attempts, Status: d.Status, Delivered: d.Delivered, Repeat: d.Repeat})
	}
	return out
}

// recorded is the JSON form of a recorded request, secrets redacted.
type recorded struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  map[string][]string `json:"query"`
	Header map[string][]string `json:"header"`
	Body   any                 `json:"body,omitempty"`
	Time   string              `json:"time"`
	Status int                 `json:"status"`
}

const redacted = "[redacted]"

func record(rr chatshippertest.RecordedRequest) recorded {
	out := recorded{Method: rr.Method, Path: rr.Path, Query: map[string][]string{}, Header: map[string][]string{},
		Time: rr.Time.UTC().Format(time.RFC3339Nano), Status: rr.Status}
	for k, vs := range rr.Query {
		out.Query[k] = redactValues(k, vs)
	}
	for k, vs := range rr.Header {
		out.Header[k] = redactValues(k, vs)
	}
	if len(bytes.TrimSpace(rr.Body)) > 0 {
		var v any
		if json.Unmarshal(rr.Body, &v) == nil {
			out.Body = redact(v)
		} else {
			out.Body = fmt.Sprintf("(%d bytes, not JSON)", len(rr.Body))
		}
	}
	return out
}

// redactValues redacts the values of a query parameter or header: all of
// them under a secret name, else the credentials of the URLs they hold.
func redactValues(name string, vs []string) []string {
	if wire.SecretName(name) {
		return []string{redacted}
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = wire.RedactURLs(v, redacted, nil)
	}
	return out
}

// redact replaces the values of secret-named keys in decoded JSON, and the
// credentials of URLs in every other string (a webhook's
// https://user:password@host/path keeps its user, not its password).
func redact(v any) any {
	switch x := v.(type) {
	case string:
		return wire.RedactURLs(x, redacted, nil)
	case map[string]any:
		for k, e := range x {
			if wire.SecretName(k) {
				x[k] = redacted
			} else {
				x[k] = redact(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = redact(e)
		}
	}
	return v
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var b bytes.Buffer
	if _, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		replyError(w, http.StatusBadRequest, "could not read the body: "+err.Error())
		return nil, false
	}
	return b.Bytes(), true
}

func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		replyError(w, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// replyError answers as the API does: {"error": {"message": ...}}.
func replyError(w http.ResponseWriter, status int, msg string) {
	reply(w, status, map[string]any{"error": map[string]any{"message": msg}})
}
