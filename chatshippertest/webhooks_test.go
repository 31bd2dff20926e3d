package chatshippertest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receiver is a webhook endpoint for tests: it answers the challenge (unless
// told not to) and records event POSTs, answering them from a status script.
type receiver struct {
	mu         sync.Mutex
	badEcho    bool
	challenges []string
	events     []received
	statuses   []int         // answers for successive POSTs; then 200
	hang       time.Duration // wait before answering POSTs (ends with the request)
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		rc.challenges = append(rc.challenges, r.URL.RawQuery)
		if q.Get("type") != "subscribe" || rc.badEcho {
			http.Error(w, "nope", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, q.Get("challenge"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	rc.events = append(rc.events, received{header: r.Header.Clone(), body: body, at: time.Now()})
	status := http.StatusOK
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	if rc.hang > 0 {
		rc.mu.Unlock()
		select {
		case <-time.After(rc.hang):
		case <-r.Context().Done():
		}
		rc.mu.Lock()
	}
	w.WriteHeader(status)
}

// got decodes the received events, in order.
func (rc *receiver) got(t *testing.T) []map[string]any {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, e := range rc.events {
		var v map[string]any
		require.NoError(t, json.Unmarshal(e.body, &v))
		out = append(out, v)
	}
	return out
}

func (rc *receiver) names(t *testing.T) []any {
	var out []any
	for _, e := range rc.got(t) {
		out = append(out, e["event"])
	}
	return out
}

// listen serves rc on a real socket and returns its URL.
func listen(t *testing.T, rc *receiver) string {
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	return hs.URL
}

func wait(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(t, srv.WaitDeliveries(ctx))
}

// addHook creates a webhook service and waits for its verification.
func addHook(t *testing.T, srv *Server, params m) map[string]any {
	t.Helper()
	out := mustCall(t, srv, http.StatusCreated, "POST", "services", srv.AdminToken,
		m{"name": "Hook", "type": "webhook", "params": params}).obj(t)
	assert.Equal(t, "unverified", out["status"])
	wait(t, srv)
	return getDoc(t, srv, "services", out["id"].(string))
}

func TestWebhookVerifyAndDeliver(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	hsURL := listen(t, rc)
	srv, clk := newTest(t)
	sd := srv.Seed

	svc := addHook(t, srv, m{"url": hsURL + "/hook?x=1"})
	assert.Equal(t, "active", svc["status"])
	secret, _ := svc["params"].(map[string]any)["secret"].(string)
	assert.Regexp(t, `^[0-9a-f]{40}$`, secret, "a secret is generated")
	require.Len(t, rc.challenges, 1)
	assert.Regexp(t, `^challenge=[0-9a-f]{32}&type=subscribe&x=1$`, rc.challenges[0])

	conv := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Hello"}}})
	wait(t, srv)
	require.Equal(t, []any{"conversation.create", "message.create.bot.chat"}, rc.names(t))

	rc.mu.Lock()
	raw := rc.events[1]
	rc.mu.Unlock()
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(raw.body)
	assert.Equal(t, "sha1="+hex.EncodeToString(mac.Sum(nil)), raw.header.Get("X-Hub-Signature"))
	assert.Equal(t, "application/json", raw.header.Get("Content-Type"))

	ev := rc.got(t)[1]
	convID, msgID := conv["id"].(string), conv["messages"].([]any)[0].(string)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, ev["id"])
	api := srv.URL
	assert.Equal(t, m{
		"id": ev["id"], "event": "message.create.bot.chat", "timestamp": clk.stamp(0), "organization": sd.OrganizationID,
		"activity": m{
			"@context":  "https://www.w3.org/ns/activitystreams",
			"type":      "Create",
			"actor":     m{"id": api + "users/" + sd.BotUserID, "type": "Person"},
			"object":    m{"id": api + "messages/" + msgID, "type": "Object"},
			"published": clk.stamp(0),
			"summary":   "User Awesome Bot created a chat message",
		},
		"data": m{
			"conversation": getDoc(t, srv, "conversations", convID),
			"message":      getDoc(t, srv, "messages", msgID),
			"links": m{"organization": api + "organizations/" + sd.OrganizationID, "conversation": api + "conversations/" + convID,
				"message": api + "messages/" + msgID, "user": api + "users/" + sd.BotUserID},
		},
	}, ev)
	assert.NotEqual(t, rc.got(t)[0]["id"], ev["id"], "every event has its own id")

	ds := srv.WebhookDeliveries()
	require.Len(t, ds, 2)
	assert.Equal(t, WebhookDelivery{Service: svc["id"].(string), URL: hsURL + "/hook?x=1", Event: "message.create.bot.chat",
		ID: ev["id"].(string), Attempts: 1, Status: 200, Delivered: true}, ds[1])
}

func TestWebhookVerificationLifecycle(t *testing.T) {
	t.Parallel()
	rc := &receiver{badEcho: true}
	hsURL := listen(t, rc)
	srv, _ := newTest(t)
	svc := addHook(t, srv, m{"url": hsURL, "secret": "s3cr3t", "events": []any{"**"}})
	id := svc["id"].(string)
	assert.Equal(t, "unverified", svc["status"], "a wrong echo leaves it unverified")
	assert.Equal(t, "s3cr3t", svc["params"].(map[string]any)["secret"], "a given secret is kept")

	newConv(t, srv, srv.Token, m{})
	wait(t, srv)
	assert.Empty(t, rc.got(t), "unverified webhooks get no events")

	r := mustCall(t, srv, http.StatusForbidden, "PATCH", "services/"+id, srv.AdminToken, m{"status": "active", "name": "Renamed"})
	assert.Equal(t, "Webhook verification failed", r.errMsg(t))
	assert.Equal(t, svc, getDoc(t, srv, "services", id), "nothing changed")

	rc.mu.Lock()
	rc.badEcho = false
	rc.mu.Unlock()
	out := mustCall(t, srv, http.StatusOK, "PATCH", "services/"+id, srv.AdminToken, m{"status": "active"}).obj(t)
	assert.Equal(t, "active", out["status"])
	newConv(t, srv, srv.Token, m{})
	wait(t, srv)
	assert.Equal(t, []any{"service.update", "conversation.create"}, rc.names(t))

	t.Run("a new URL is verified again", func(t *testing.T) {
		rc2 := &receiver{}
		hs2URL := listen(t, rc2)
		out := mustCall(t, srv, http.StatusOK, "PATCH", "services/"+id, srv.AdminToken, m{"params": m{"url": hs2URL}}).obj(t)
		assert.Equal(t, "unverified", out["status"])
		assert.Regexp(t, `^[0-9a-f]{40}$`, out["params"].(map[string]any)["secret"], "params were replaced: new secret")
		wait(t, srv)
		assert.Equal(t, "active", getDoc(t, srv, "services", id)["status"])
		assert.Len(t, rc2.challenges, 1)
	})
	errs := []struct {
		params any
		msg    string
	}{
		{nil, "a webhook needs params.url, an absolute http(s) URL"},
		{m{"url": "ftp://x"}, "a webhook needs params.url, an absolute http(s) URL"},
		{m{"url": "/relative"}, "a webhook needs params.url, an absolute http(s) URL"},
		{m{"url": hsURL, "events": "message.*"}, "params.events must be an array of event patterns"},
		{m{"url": hsURL, "events": []any{"message..x"}}, `invalid event pattern "message..x"`},
	}
	for _, e := range errs {
		body := m{"type": "webhook"}
		if e.params != nil {
			body["params"] = e.params
		}
		r := mustCall(t, srv, 422, "POST", "services", srv.AdminToken, body)
		assert.Equal(t, e.msg, r.errMsg(t))
	}
}

func TestWebhookEventFilterPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"message.create.contact.chat", "message.create.contact.chat", true},
		{"message.create.contact.*", "message.create.contact.chat", true},
		{"message.create.*.results", "message.create.bot.results", true},
		{"message.create.*.results", "message.create.bot.chat", false},
		{"message.*", "message.update", true},
		{"message.*", "message.create.bot.chat", false},
		{"*.update", "conversation.update", true},
		{"*.update", "message.create.bot.chat", false},
		{"organization.*", "organization.create", true},
		{"message.**", "message.create.bot.chat", true},
		{"message.**", "message", true},
		{"**.chat", "message.create.agent.chat", true},
		{"**", "anything.at.all", true},
		{"message.**.chat", "message.create.bot.card", false},
		{"conversation.update", "conversation.updated", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, matchEvent(tt.pattern, tt.name), "%s ~ %s", tt.pattern, tt.name)
	}

	rc := &receiver{}
	hsURL := listen(t, rc)
	srv, _ := newTest(t)
	addHook(t, srv, m{"url": hsURL, "events": []any{"message.create.*.command", "conversation.update", "form.**"}})
	id := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Hello"}}})["id"].(string)
	post(t, srv, srv.AgentToken, id, cmd("/accept"))
	form := mustCall(t, srv, 201, "POST", "forms", srv.Token, m{"name": "F"}).obj(t)["id"].(string)
	mustCall(t, srv, 204, "DELETE", "forms/"+form, srv.Token, nil)
	wait(t, srv)
	assert.Equal(t, []any{"message.create.bot.command", "conversation.update", "form.create", "form.delete"}, rc.names(t))
	got := rc.got(t)
	assert.Equal(t, "active", got[1]["data"].(map[string]any)["conversation"].(map[string]any)["status"])
	assert.Equal(t, form, got[3]["data"].(map[string]any)["form"].(map[string]any)["id"], "deletes carry the last state")
	assert.Equal(t, "Delete", got[3]["activity"].(map[string]any)["type"])
}

func TestWebhookResourceEvents(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	hsURL := listen(t, rc)
	srv, _ := newTest(t)
	sd := srv.Seed
	addHook(t, srv, m{"url": hsURL})
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	msg := post(t, srv, srv.Token, id, m{"text": "x"})["id"].(string)
	post(t, srv, srv.AgentToken, id, cmd("/action like", "meta", m{"message": msg}))
	mustCall(t, srv, 200, "PATCH", "users/"+sd.AgentUserIDs[1], srv.AdminToken, m{"meta": m{"a": "b"}})
	other := mustCall(t, srv, 201, "POST", "services", srv.AdminToken, m{"type": "webhook", "params": m{"url": "http://127.0.0.1:1/x", "secret": "hidden"}}).obj(t)
	mustCall(t, srv, 204, "DELETE", "messages/"+msg, srv.Token, nil)
	wait(t, srv)
	assert.Equal(t, []any{"conversation.create", "message.create.bot.chat", "message.create.bot.command", "message.update",
		"conversation.update", "user.update", "service.create", "message.delete"}, rc.names(t))
	got := rc.got(t)
	assert.Equal(t, []any{sd.AgentUserIDs[0]}, got[3]["data"].(map[string]any)["message"].(map[string]any)["likes"])
	assert.Equal(t, "User Alice Agent updated a chat message", got[3]["activity"].(map[string]any)["summary"])
	assert.Equal(t, m{"a": "b"}, got[5]["data"].(map[string]any)["user"].(map[string]any)["meta"])
	svc := got[6]["data"].(map[string]any)["service"].(map[string]any)
	assert.Equal(t, other["id"], svc["id"])
	assert.Equal(t, m{"url": "http://127.0.0.1:1/x"}, svc["params"], "secrets are not sent to other webhooks")
}

func TestWebhookOrganizationScope(t *testing.T) {
	t.Parallel()
	rcParent, rcChild := &receiver{}, &receiver{}
	hpURL, hcURL := listen(t, rcParent), listen(t, rcChild)
	srv, _ := newTest(t)
	sub := mustCall(t, srv, 201, "POST", "organizations", srv.AdminToken, m{"name": "Dealer", "parent": srv.Seed.OrganizationID}).obj(t)["id"].(string)
	addHook(t, srv, m{"url": hpURL, "events": []any{"conversation.create"}})
	out := mustCall(t, srv, 201, "POST", "services", srv.AdminToken, m{"type": "webhook", "organization": sub,
		"params": m{"url": hcURL, "events": []any{"conversation.create"}}}).obj(t)
	wait(t, srv)
	assert.Equal(t, "active", getDoc(t, srv, "services", out["id"].(string))["status"])

	newConv(t, srv, srv.Token, m{"name": "Parent"})
	newConv(t, srv, srv.Token, m{"name": "Child", "organization": sub})
	wait(t, srv)
	name := func(e map[string]any) any { return e["data"].(map[string]any)["conversation"].(map[string]any)["name"] }
	var parent, child []any
	for _, e := range rcParent.got(t) {
		parent = append(parent, name(e))
	}
	for _, e := range rcChild.got(t) {
		child = append(child, name(e))
	}
	assert.Equal(t, []any{"Parent", "Child"}, parent, "sub-organization events reach the parent's webhook")
	assert.Equal(t, []any{"Child"}, child)
}

// inProcessHook starts an in-process server whose webhooks reach rc without
// sockets, for tests that need fake time.
func inProcessHook(t *testing.T, rc *receiver, opts ...Option) *Server {
	opts = append([]Option{WithRateLimit(0), WithWebhookClient(&http.Client{Transport: HandlerTransport(rc)})}, opts...)
	return NewInProcessServer(t, opts...)
}

func TestWebhookRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, WithWebhookRetry(time.Second, 4))
		svc := addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create"}})
		assert.Equal(t, "active", svc["status"])

		rc.mu.Lock()
		rc.statuses = []int{500, 503}
		rc.mu.Unlock()
		start := time.Now()
		newConv(t, srv, srv.Token, m{"name": "first"})
		newConv(t, srv, srv.Token, m{"name": "second"})
		wait(t, srv)

		rc.mu.Lock()
		var offsets []time.Duration
		for _, e := range rc.events {
			offsets = append(offsets, e.at.Sub(start))
		}
		rc.mu.Unlock()
		assert.Equal(t, []time.Duration{0, time.Second, 3 * time.Second, 3 * time.Second}, offsets,
			"retries after 1 s and 2 s; the second event waits its turn")
		var names []any
		for _, e := range rc.got(t) {
			names = append(names, e["data"].(map[string]any)["conversation"].(map[string]any)["name"])
		}
		assert.Equal(t, []any{"first", "first", "first", "second"}, names, "in order per webhook")
		ds := srv.WebhookDeliveries()
		require.Len(t, ds, 2)
		assert.Equal(t, []int{3, 1}, []int{ds[0].Attempts, ds[1].Attempts})
		assert.True(t, ds[0].Delivered && ds[1].Delivered)
	})
}

func TestWebhookGivesUpAndTimesOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, WithWebhookRetry(time.Second, 3))
		addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create"}})

		rc.mu.Lock()
		rc.statuses = []int{503, 503, 503}
		rc.mu.Unlock()
		newConv(t, srv, srv.Token, m{})
		wait(t, srv)
		ds := srv.WebhookDeliveries()
		require.Len(t, ds, 1)
		assert.Equal(t, 3, ds[0].Attempts)
		assert.Equal(t, 503, ds[0].Status)
		assert.False(t, ds[0].Delivered)

		rc.mu.Lock()
		rc.hang = time.Minute
		rc.mu.Unlock()
		start := time.Now()
		newConv(t, srv, srv.Token, m{})
		wait(t, srv)
		assert.Equal(t, 3*hookTimeout+3*time.Second, time.Since(start), "three 20 s timeouts plus 1 s and 2 s of backoff")
		ds = srv.WebhookDeliveries()
		assert.Equal(t, WebhookDelivery{Service: ds[1].Service, URL: "http://hooks.test/in", Event: "conversation.create",
			ID: ds[1].ID, Attempts: 3, Status: 0, Delivered: false}, ds[1])
	})
}

func TestWaitDeliveriesContextAndClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, WithWebhookRetry(time.Hour, 5))
		addHook(t, srv, m{"url": "http://hooks.test/in"})
		assert.NoError(t, srv.WaitDeliveries(context.Background()), "nothing pending")

		rc.mu.Lock()
		rc.statuses = []int{500}
		rc.mu.Unlock()
		newConv(t, srv, srv.Token, m{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		assert.ErrorIs(t, srv.WaitDeliveries(ctx), context.DeadlineExceeded, "the retry waits an hour")

		srv.Close()
		assert.NoError(t, srv.WaitDeliveries(context.Background()), "closing abandons pending deliveries")
		assert.Len(t, rc.got(t), 1)
	})
}

// Event ids are unique per server instance, even with the same seed: a
// dedupe store that outlives one test run must not drop the next run's
// events. The seeded ids, names and secrets stay as they were.
func TestWebhookEventIDsUniquePerServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		run := func() (events []map[string]any, conv map[string]any, secret any) {
			rc := &receiver{}
			srv := inProcessHook(t, rc, WithSeed(42), WithClock(newClock().now))
			svc := addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create", "message.create.*.*"}})
			conv = newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Hello"}}})
			wait(t, srv)
			return rc.got(t), conv, svc["params"].(map[string]any)["secret"]
		}
		ev1, conv1, secret1 := run()
		ev2, conv2, secret2 := run()
		require.Len(t, ev1, 2)
		require.Len(t, ev2, 2)
		assert.Equal(t, conv1, conv2, "ids, names and slugs follow the seed")
		assert.Equal(t, secret1, secret2, "generated secrets follow the seed")
		seen := map[any]bool{}
		for _, e := range append(ev1, ev2...) {
			assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, e["id"])
			assert.False(t, seen[e["id"]], "event id %v repeated", e["id"])
			seen[e["id"]] = true
		}
	})
}

// Closing any httptest.Server closes the idle connections of
// http.DefaultTransport; a webhook POST on such a connection, which the
// receiver had already handled, now and then failed with "connection broken:
// CloseIdleConnections called", and the retry delivered the event twice (seen
// in TestWebhookFirstEventDelivered and TestWebhookResourceEvents under load).
// The server's default webhook client has its own transport. Not parallel:
// it swaps http.DefaultTransport to see who uses it.
func TestWebhookClientOwnTransport(t *testing.T) {
	rc := &receiver{}
	hsURL := listen(t, rc)
	srv, _ := newTest(t)
	shared := &countingTransport{next: http.DefaultTransport}
	http.DefaultTransport = shared
	t.Cleanup(func() { http.DefaultTransport = shared.next })

	addHook(t, srv, m{"url": hsURL, "events": []any{"conversation.create"}})
	newConv(t, srv, srv.Token, m{})
	wait(t, srv)
	assert.Len(t, rc.got(t), 1)
	assert.Equal(t, 2, len(rc.challenges)+len(rc.events), "a challenge and a delivery")
	assert.Zero(t, shared.n.Load(), "the shared default transport is not used")
}

// countingTransport counts the requests it passes on.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}
