package chatshippertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimitSlidingSecond(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t, WithRateLimit(3))
	get := func() result { return call(t, srv, "GET", "users/"+srv.Seed.BotUserID, srv.Token, nil) }
	for i := range 3 {
		require.Equal(t, 200, get().Status, "request %d", i)
		clk.advance(200 * time.Millisecond)
	}
	// Requests at 0, 200 and 400 ms; now 600 ms.
	r := get()
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Equal(t, "Too many requests", r.errMsg(t))
	assert.Equal(t, "1", r.Header.Get("Retry-After"))

	clk.advance(399 * time.Millisecond)
	assert.Equal(t, 429, get().Status, "the first request is 999 ms old")
	clk.advance(time.Millisecond)
	assert.Equal(t, 200, get().Status, "it left the window; refused requests did not count")
	assert.Equal(t, 429, get().Status)
	clk.advance(200 * time.Millisecond)
	assert.Equal(t, 200, get().Status)

	t.Run("login is limited per IP", func(t *testing.T) {
		clk.advance(time.Hour)
		body := m{"email": "x@acme.test", "password": "x"}
		for range 3 {
			mustCall(t, srv, 401, "POST", "auth/token", "", body)
		}
		mustCall(t, srv, 429, "POST", "auth/token", "", body)
	})
}

func TestRateLimitPerTokenAndPerIP(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t, WithRateLimit(2))
	other := srv.IssueToken(srv.Seed.AdminUserID, "admin", 0)
	send := func(ip, token string) int {
		req := httptest.NewRequest("GET", "/v2/users/"+srv.Seed.BotUserID, nil)
		req.RemoteAddr = ip + ":5555"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, 200, send("192.0.2.1", srv.Token))
	assert.Equal(t, 200, send("192.0.2.2", srv.Token))
	assert.Equal(t, 429, send("192.0.2.3", srv.Token), "the token is spent, whatever the IP")
	assert.Equal(t, 200, send("192.0.2.1", other))
	assert.Equal(t, 429, send("192.0.2.1", srv.IssueToken(srv.Seed.GuestUserID, "guest", 0)), "the IP is spent, whatever the token")
	assert.Equal(t, 200, send("192.0.2.4", other))
}

func TestRateLimitDefaultAndOff(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := NewServer(t, WithClock(clk.now))
	for i := range 20 {
		require.Equal(t, 200, call(t, srv, "GET", "conversations", srv.Token, nil).Status, "request %d", i)
	}
	assert.Equal(t, 429, call(t, srv, "GET", "conversations", srv.Token, nil).Status, "default: 20 per second")

	off, _ := newTest(t, WithRateLimit(0))
	for range 50 {
		require.Equal(t, 200, call(t, off, "GET", "conversations", off.Token, nil).Status)
	}
}

func TestLoopLimitIdentical(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	same := m{"text": "I've said this before...", "meta": m{"k": "v"}}
	for range 8 {
		post(t, srv, srv.Token, id, same)
		clk.advance(10 * time.Second)
	}
	// Eight identical messages at 0..70 s; now 80 s.
	count := len(srv.List("messages"))
	r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, same)
	assert.Equal(t, "Loop limit: more than 8 identical messages in 3 minutes", r.errMsg(t))
	assert.Equal(t, "100", r.Header.Get("Retry-After"), "the first of them leaves the window at 180 s")
	assert.Len(t, srv.List("messages"), count, "nothing stored")

	post(t, srv, srv.Token, id, m{"text": "I've said this before...", "meta": m{"k": "other"}})
	post(t, srv, srv.Token, id, m{"text": "I've said this before...", "meta": m{"k": "v"}, "type": "card"})
	post(t, srv, srv.AgentToken, id, same)
	mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, same)
	other := newConv(t, srv, srv.Token, m{})["id"].(string)
	post(t, srv, srv.Token, other, same)

	clk.advance(100 * time.Second)
	post(t, srv, srv.Token, id, same)
	mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, same)
}

func TestLoopLimitConsecutive(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	sd := srv.Seed
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	set := func(i int) m { return cmd(fmt.Sprintf("/set someVar %d", i)) }
	for i := range 20 {
		post(t, srv, srv.Token, id, set(i))
	}
	clk.advance(10 * time.Minute)
	r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, set(20))
	assert.Equal(t, "Loop limit: more than 20 consecutive messages in an hour", r.errMsg(t))
	assert.Equal(t, "3000", r.Header.Get("Retry-After"))
	assert.Equal(t, "19", getDoc(t, srv, "conversations", id)["meta"].(map[string]any)["someVar"], "nothing of it applied")

	resets := []struct {
		name  string
		token string
		msg   m
	}{
		{"an agent replies", srv.AgentToken, m{"text": "I'm here"}},
		{"the bot relays a contact message", srv.Token, m{"text": "hello", "role": "contact"}},
	}
	for _, rs := range resets {
		t.Run(rs.name, func(t *testing.T) {
			post(t, srv, rs.token, id, rs.msg)
			for i := range 20 {
				post(t, srv, srv.Token, id, set(100+i))
			}
			mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, set(200))
		})
	}
	t.Run("per bot and per conversation", func(t *testing.T) {
		bot2 := srv.Put("users", m{"name": "Bot Two", "organizations": []any{m{"organization": sd.OrganizationID, "role": "bot", "selected": true}}})
		post(t, srv, srv.IssueToken(bot2, "bot", 0), id, set(1))
		post(t, srv, srv.Token, newConv(t, srv, srv.Token, m{})["id"].(string), set(1))
	})
	t.Run("the window frees", func(t *testing.T) {
		clk.advance(time.Hour)
		post(t, srv, srv.Token, id, set(300))
	})
	t.Run("agents have no loop limit", func(t *testing.T) {
		for range 30 {
			post(t, srv, srv.AgentToken, id, m{"text": "same"})
		}
	})
}

func TestLoopLimitBatches(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	batch := make([]any, 21)
	for i := range batch {
		batch[i] = m{"text": fmt.Sprintf("line %d", i)}
	}
	convs := len(srv.List("conversations"))
	r := mustCall(t, srv, 429, "POST", "conversations", srv.Token, m{"messages": batch})
	assert.Equal(t, "Loop limit: more than 20 consecutive messages in an hour", r.errMsg(t))
	assert.Len(t, srv.List("conversations"), convs, "no conversation created")
	assert.Empty(t, srv.List("messages"))

	id := newConv(t, srv, srv.Token, m{"messages": batch[:15]})["id"].(string)
	r = mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, batch[:6])
	assert.Equal(t, "Loop limit: more than 20 consecutive messages in an hour", r.errMsg(t))
	assert.Len(t, srv.List("messages"), 15, "the rejected batch left nothing")
	mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token, batch[:5])
	mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, batch[0])
}

func TestLoopLimitOptions(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t, WithLoopLimits(2, time.Minute, 3, 90*time.Second))
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	post(t, srv, srv.Token, id, m{"text": "a"})
	post(t, srv, srv.Token, id, m{"text": "a"})
	r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "a"})
	assert.Equal(t, "Loop limit: more than 2 identical messages in a minute", r.errMsg(t))
	assert.Equal(t, "60", r.Header.Get("Retry-After"))
	post(t, srv, srv.Token, id, m{"text": "b"})
	r = mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "c"})
	assert.Equal(t, "Loop limit: more than 3 consecutive messages in 90 seconds", r.errMsg(t))
	assert.Equal(t, "90", r.Header.Get("Retry-After"))

	off, _ := newTest(t, WithLoopLimits(0, 0, 0, 0))
	id = newConv(t, off, off.Token, m{})["id"].(string)
	for range 30 {
		post(t, off, off.Token, id, m{"text": "same"})
	}
	assert.Panics(t, func() { NewServer(nil, WithLoopLimits(1, 0, 0, 0)) })
}

func TestSpell(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Hour: "an hour", 2 * time.Hour: "2 hours", 3 * time.Minute: "3 minutes", time.Minute: "a minute",
		time.Second: "a second", 90 * time.Second: "90 seconds", 1500 * time.Millisecond: "1.5s",
	} {
		assert.Equal(t, want, spell(d))
	}
}

// The readings the package doc states under "Bot loop limits", each shown.
func TestLoopLimitEdges(t *testing.T) {
	set := func(i int) m { return cmd(fmt.Sprintf("/set someVar %d", i)) }
	t.Run("a bot's message with role agent is a reply, not counted", func(t *testing.T) {
		srv, _ := newTest(t)
		id := newConv(t, srv, srv.Token, m{})["id"].(string)
		for i := range 20 {
			post(t, srv, srv.Token, id, set(i))
		}
		mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, set(20))
		for range 12 { // identical, yet not counted
			post(t, srv, srv.Token, id, m{"text": "Hello from the bot", "role": "agent"})
		}
		for i := range 20 {
			post(t, srv, srv.Token, id, set(100+i))
		}
		mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, set(200))
	})
	t.Run("a window frees at exactly t+window", func(t *testing.T) {
		srv, clk := newTest(t, WithLoopLimits(2, time.Minute, 100, time.Hour))
		id := newConv(t, srv, srv.Token, m{})["id"].(string)
		post(t, srv, srv.Token, id, m{"text": "a"})
		post(t, srv, srv.Token, id, m{"text": "a"})
		clk.advance(time.Minute - time.Millisecond)
		r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "a"})
		assert.Equal(t, "1", r.Header.Get("Retry-After"))
		clk.advance(time.Millisecond)
		post(t, srv, srv.Token, id, m{"text": "a"})
	})
	t.Run("initial messages of a created conversation count", func(t *testing.T) {
		srv, _ := newTest(t)
		same := make([]any, 8)
		for i := range same {
			same[i] = m{"text": "same"}
		}
		id := newConv(t, srv, srv.Token, m{"messages": same})["id"].(string)
		mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "same"})
	})
	t.Run("identical compares type, text and meta as decoded JSON", func(t *testing.T) {
		srv, _ := newTest(t, WithLoopLimits(1, time.Minute, 100, time.Hour))
		id := newConv(t, srv, srv.Token, m{})["id"].(string)
		mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token, json.RawMessage(`{"text":"a","meta":{"x":1,"y":2}}`))
		mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, json.RawMessage(`{"text":"a","meta":{"y":2.0,"x":1}}`))
		mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token, json.RawMessage(`{"text":"a"}`))
		mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, json.RawMessage(`{"text":"a","meta":{}}`))
		mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token, json.RawMessage(`{"text":"a","type":"card"}`))
	})
}

// The delivery key (meta.chatshipperDeliveryKey, which the SDK puts on every
// message it sends) never makes messages differ: the SDK's loop guard ignores
// it, and so must the server it mirrors.
func TestLoopLimitIdenticalIgnoresDeliveryKey(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	keyed := func(i int) m {
		return m{"text": "same", "meta": m{"k": "v", deliveryKeyMeta: fmt.Sprintf("key%d", i)}}
	}
	for i := range 7 {
		post(t, srv, srv.Token, id, keyed(i))
	}
	post(t, srv, srv.Token, id, m{"text": "same", "meta": m{"k": "v"}})
	r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, keyed(99))
	assert.Equal(t, "Loop limit: more than 8 identical messages in 3 minutes", r.errMsg(t))
	assert.Equal(t, chatshipper.DeliveryKeyMeta, deliveryKeyMeta, "the key the SDK sets")

	// A meta holding only the key is no meta.
	other := newConv(t, srv, srv.Token, m{})["id"].(string)
	for i := range 4 {
		post(t, srv, srv.Token, other, m{"text": "x", "meta": m{deliveryKeyMeta: fmt.Sprintf("k%d", i)}})
		post(t, srv, srv.Token, other, m{"text": "x"})
	}
	mustCall(t, srv, 429, "POST", "conversations/"+other+"/messages", srv.Token, m{"text": "x", "meta": m{}})
}

// TestLimitsRetryAfterComesTrue: a 429's Retry-After is a number of seconds
// the client waits for real, so waiting it lets the request through whatever
// the server's clock does: standing still (WithClock returning one time, as
// chatshipper-fake -clock-frozen) or set back. The windows count the time
// passed on the server's clock or really passed, whichever is more, so moving
// the clock ahead still ends them (TestRateLimitSlidingSecond).
func TestLimitsRetryAfterComesTrue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		move func(c *testClock) // what happens to the server's clock after the 429
	}{
		{"frozen clock", func(*testClock) {}},
		{"clock set back", func(c *testClock) { c.advance(-time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				clk := newClock()
				srv := NewInProcessServer(t, WithRateLimit(3), WithLoopLimits(1, time.Minute, 0, 0), WithClock(clk.now))
				get := func() result { return call(t, srv, "GET", "users/"+srv.Seed.BotUserID, srv.Token, nil) }
				for i := range 3 {
					require.Equal(t, 200, get().Status, "request %d", i)
				}
				r := get()
				require.Equal(t, http.StatusTooManyRequests, r.Status)
				require.Equal(t, "1", r.Header.Get("Retry-After"))
				tc.move(clk)
				time.Sleep(999 * time.Millisecond)
				assert.Equal(t, 429, get().Status, "999 ms of the second waited")
				time.Sleep(time.Millisecond)
				assert.Equal(t, 200, get().Status, "the Retry-After waited for real")

				time.Sleep(time.Second)
				id := newConv(t, srv, srv.Token, m{})["id"].(string)
				post(t, srv, srv.Token, id, m{"text": "same"})
				r = mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "same"})
				require.Equal(t, "60", r.Header.Get("Retry-After"))
				tc.move(clk)
				time.Sleep(59 * time.Second)
				mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "same"})
				time.Sleep(time.Second)
				post(t, srv, srv.Token, id, m{"text": "same"})
			})
		})
	}
}
