package redteam_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/webhook"
)

const hookSecret = "redteam-hook-secret"

type botRig struct {
	srv      *chatshippertest.Server
	bot      *chatshipper.Client
	consumer *chatshipper.Client
	h        *webhook.Handler
	wrap     http.Handler
	conv     string
}

func newBotRig(t *testing.T, srvOpts []chatshippertest.Option, hOpts ...webhook.Option) *botRig {
	t.Helper()
	srv := chatshippertest.NewServer(t, append([]chatshippertest.Option{chatshippertest.WithRateLimit(0), chatshippertest.WithLoopLimits(0, 0, 0, 0)}, srvOpts...)...)
	bot, err := srv.NewClient(chatshipper.WithLoopGuard(false))
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := srv.NewClient(chatshipper.WithTokenSource(chatshipper.StaticTokenSource(srv.AdminToken)), chatshipper.WithLoopGuard(false))
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhook.NewHandler(append([]webhook.Option{webhook.WithSecret(hookSecret), webhook.WithClient(bot)}, hOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &botRig{srv: srv, bot: bot, consumer: consumer, h: h}
}

func (r *botRig) start(t *testing.T) {
	t.Helper()
	var hh http.Handler = r.h
	if r.wrap != nil {
		hh = r.wrap
	}
	ts := httptest.NewServer(hh)
	t.Cleanup(ts.Close)
	ctx := context.Background()
	svc, _, err := r.bot.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{Name: "rt", URL: ts.URL + "/hook", Secret: hookSecret, Events: []string{"message.create.contact.*"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if doc, _ := r.srv.Get("services", svc.ID); doc["status"] == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("webhook never verified")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *botRig) say(t *testing.T, text string) {
	t.Helper()
	ctx := context.Background()
	msg := chatshipper.Chat(text).WithRole(chatshipper.RoleContact)
	if r.conv == "" {
		conv, _, err := r.consumer.Conversations.Create(ctx, &chatshipper.ConversationCreate{
			Type:     chatshipper.ConversationContact,
			Contact:  &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Jenny", Email: "jenny@example.com"}},
			Messages: []chatshipper.MessageInput{msg},
		})
		if err != nil {
			t.Fatal(err)
		}
		r.conv = conv.ID
		return
	}
	if _, _, err := r.consumer.Conversations.Send(ctx, r.conv, msg); err != nil {
		t.Fatal(err)
	}
}

func (r *botRig) wait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.srv.WaitDeliveries(ctx); err != nil {
		t.Fatal(err)
	}
}

// Promise: "a redelivered event, the same event handed to a second replica,
// or a restarted process thus sends the same keys ... one reply per event,
// with no shared store"; the marker "is read from the event's own copy of the
// conversation, never a newer one, so a later question cannot take an
// earlier answer". Attack: the event that asked the question is redelivered
// (the platform retries for 24 hours; here to a restarted process, so no
// dedupe memory) after the answer was taken. Its replay finds the question
// stored (keyed) but sends the keyless "/set _asked<bot>=name" again,
// re-arming the question: the contact's next, unrelated message is then
// taken as the answer.
func TestRedteamWebhookLateRedeliveryRearmsAsk(t *testing.T) {
	r := newBotRig(t, nil, webhook.WithDedupe(0))
	var mu sync.Mutex
	var answers []string
	if err := r.h.RegisterAnswer("name", func(ctx context.Context, c *webhook.Conversation, m *chatshipper.Message) error {
		mu.Lock()
		answers = append(answers, m.Text)
		mu.Unlock()
		_, err := c.Say(ctx, "Thanks "+m.Text)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.h.Handle("message.create.*.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := r.h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		if e.Data.Message.Text == "hi" {
			_, err = c.Ask(ctx, "What is your name?", "name")
			return err
		}
		_, err = c.Say(ctx, "echo: "+e.Data.Message.Text)
		return err
	}, webhook.MessageRole(chatshipper.RoleContact)); err != nil {
		t.Fatal(err)
	}
	// Record the deliveries so one can be delivered again later.
	var recMu sync.Mutex
	type delivery struct {
		body []byte
		sig  string
	}
	var hiDelivery *delivery
	inner := r.h
	r.wrap = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == "POST" {
			b, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(b))
			recMu.Lock()
			if hiDelivery == nil && bytes.Contains(b, []byte(`"text":"hi"`)) {
				hiDelivery = &delivery{b, req.Header.Get(webhook.SignatureHeader)}
			}
			recMu.Unlock()
		}
		inner.ServeHTTP(w, req)
	})
	r.start(t)
	r.say(t, "hi")
	r.wait(t)
	r.say(t, "Bob")
	r.wait(t)
	if hiDelivery == nil {
		t.Fatal("the delivery of \"hi\" was not seen")
	}
	// The platform delivers the "hi" event again (its answer was lost).
	req := httptest.NewRequest("POST", "/hook", bytes.NewReader(hiDelivery.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, hiDelivery.sig)
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("redelivery answered %d", rec.Code)
	}
	r.say(t, "where is my order")
	r.wait(t)
	for _, m := range r.srv.List("messages") {
		if m["conversation"] == r.conv {
			t.Logf("msg role=%v type=%v text=%q meta=%v", m["role"], m["type"], m["text"], m["meta"])
		}
	}
	for _, txt := range []string{"What is your name?", "Thanks Bob", "echo: where is my order"} {
		if n := countText(r.srv, r.conv, txt); n != 1 {
			t.Errorf("%q sent %d times", txt, n)
		}
	}
	if n := countText(r.srv, r.conv, "Thanks where is my order"); n != 0 {
		t.Errorf("an unrelated message was taken as the answer to an already answered question (%d times); answers taken: %v", n, answers)
	}
}

// Handler error after its first send, then success on the retry: one reply.
// Also every event delivered twice more, with dedupe off.
func TestRedteamWebhookHandlerErrorRetryOneReply(t *testing.T) {
	r := newBotRig(t, []chatshippertest.Option{chatshippertest.WithWebhookRetry(20*time.Millisecond, 5), chatshippertest.WithWebhookRepeats(2, 30*time.Millisecond)}, webhook.WithDedupe(0), webhook.WithLogger(nil))
	var runs atomic.Int32
	if err := r.h.Handle("message.create.*.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := r.h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		if _, err := c.Say(ctx, "reply to "+e.Data.Message.Text); err != nil {
			return err
		}
		if runs.Add(1) == 1 {
			return errTransient
		}
		_, err = c.Send(ctx, chatshipper.Chat("second reply to "+e.Data.Message.Text).WithRole(chatshipper.RoleAgent), chatshipper.Chat("third").WithRole(chatshipper.RoleAgent))
		return err
	}, webhook.MessageRole(chatshipper.RoleContact)); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	r.say(t, "hello")
	r.wait(t)
	for _, txt := range []string{"reply to hello", "second reply to hello", "third"} {
		if n := countText(r.srv, r.conv, txt); n != 1 {
			t.Errorf("%q sent %d times (handler ran %d times)", txt, n, runs.Load())
		}
	}
}

type transientErr struct{}

func (transientErr) Error() string { return "transient" }

var errTransient error = transientErr{}

// Signature checks: a body changed after signing, a signature for another
// secret, upper-case hex, a missing "sha1=" prefix.
func TestRedteamWebhookSignature(t *testing.T) {
	h, err := webhook.NewHandler(webhook.WithSecret(hookSecret), webhook.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	h.Handle("**", func(ctx context.Context, e *webhook.Event) error { ran.Add(1); return nil })
	body := `{"id":"11111111-1111-1111-1111-111111111111","event":"message.create.contact.chat","timestamp":1700000000000,"data":{"message":{"id":"5bb0277fd99faf11a3f4a300","text":"x","role":"contact","type":"chat","conversation":"5bb0277fd99faf11a3f4a37e"}}}`
	good := webhook.Sign([]byte(body), hookSecret)
	cases := []struct {
		name, body, sig string
		want            int
	}{
		{"good", body, good, 200},
		{"tampered", body + " ", good, 401},
		{"other-secret", body, webhook.Sign([]byte(body), "other"), 401},
		{"no-prefix", body, strings.TrimPrefix(good, "sha1="), 401},
		{"sha256-prefix", body, "sha256=" + strings.TrimPrefix(good, "sha1="), 401},
		{"empty", body, "", 401},
		{"prefix-only", body, "sha1=", 401},
		{"truncated", body, good[:len(good)-2], 401},
		{"double", body, good + "," + good, 401},
	}
	for _, tc := range cases {
		req := httptest.NewRequest("POST", "/hook", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		if tc.sig != "" {
			req.Header.Set(webhook.SignatureHeader, tc.sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	if ran.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", ran.Load())
	}
	_ = http.StatusOK
}
