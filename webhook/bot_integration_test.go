package webhook_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// Bots against the fake server, through real signed webhook deliveries: ask
// on one replica and answer on another, one reply per event however often
// and wherever the event runs, and a question nobody here can answer.

const botSecret = "bot-e2e-secret"

// botEnv is a fake server with a bot token and a consumer (the admin token,
// playing the contact through an integration).
type botEnv struct {
	srv      *chatshippertest.Server
	consumer *chatshipper.Client
}

func newBotEnv(t *testing.T, opts ...chatshippertest.Option) *botEnv {
	t.Helper()
	srv := chatshippertest.NewServer(t, append([]chatshippertest.Option{chatshippertest.WithRateLimit(0)}, opts...)...)
	consumer, err := chatshipper.NewClient(srv.AdminToken, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0))
	require.NoError(t, err)
	return &botEnv{srv: srv, consumer: consumer}
}

// botClient is a new client of the bot user: every replica has its own, as
// separate processes would.
func (b *botEnv) botClient(t *testing.T) *chatshipper.Client {
	t.Helper()
	c, err := chatshipper.NewClient(b.srv.Token, chatshipper.WithBaseURL(b.srv.URL), chatshipper.WithRateLimit(0))
	require.NoError(t, err)
	return c
}

// subscribe registers url as a webhook for the contact conversations'
// messages and waits until the challenge verified it.
func (b *botEnv) subscribe(t *testing.T, url string) {
	t.Helper()
	svc, _, err := b.consumer.Services.CreateWebhook(context.Background(), &chatshipper.WebhookServiceCreate{
		Name: "bot", URL: url, Secret: botSecret, Events: []string{"message.create.contact.*"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		doc, _ := b.srv.Get("services", svc.ID)
		return doc["status"] == "active"
	}, 10*time.Second, 5*time.Millisecond)
}

func (b *botEnv) wait(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, b.srv.WaitDeliveries(ctx))
}

// contactSays writes text as the contact: the first message creates the
// conversation. It returns the conversation ID.
func (b *botEnv) contactSays(t *testing.T, convID, text string) string {
	t.Helper()
	ctx := context.Background()
	msg := chatshipper.Chat(text).WithRole(chatshipper.RoleContact)
	if convID == "" {
		conv, _, err := b.consumer.Conversations.Create(ctx, &chatshipper.ConversationCreate{
			Type:     chatshipper.ConversationContact,
			Contact:  &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Jenny", Email: "jenny@example.com"}},
			Messages: []chatshipper.MessageInput{msg},
		})
		require.NoError(t, err)
		return conv.ID
	}
	_, _, err := b.consumer.Conversations.Send(ctx, convID, msg)
	require.NoError(t, err)
	return convID
}

// transcript lists the conversation's messages as "role: text", in order.
func (b *botEnv) transcript(t *testing.T, convID string) []string {
	t.Helper()
	var out []string
	for _, m := range b.srv.List("messages") {
		if m["conversation"] != convID {
			continue
		}
		role, _ := m["role"].(string)
		text, _ := m["text"].(string)
		out = append(out, role+": "+text)
	}
	return out
}

func (b *botEnv) convMeta(t *testing.T, convID, key string) any {
	t.Helper()
	doc, ok := b.srv.Get("conversations", convID)
	require.True(t, ok)
	meta, _ := doc["meta"].(map[string]any)
	return meta[key]
}

// balancer forwards each delivery, with its signature, to the replica the
// test picks, as a load balancer in front of replicas would.
type balancer struct {
	mu      sync.Mutex
	targets []http.Handler // each delivery goes to all of these, in order
}

func (lb *balancer) send(to ...http.Handler) {
	lb.mu.Lock()
	lb.targets = to
	lb.mu.Unlock()
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	lb.mu.Lock()
	targets := lb.targets
	lb.mu.Unlock()
	var first *httptest.ResponseRecorder
	for _, h := range targets {
		req := httptest.NewRequest(r.Method, r.URL.String(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if first == nil || rec.Code != http.StatusOK {
			first = rec // the first answer, or the first failure
		}
	}
	w.WriteHeader(first.Code)
	_, _ = w.Write(first.Body.Bytes())
}

// askBot is a replica of a bot that asks the contact's name and greets by
// name; answered records which replica took each answer.
func askBot(t *testing.T, env *botEnv, name string, answered chan<- string, opts ...webhook.Option) *webhook.Handler {
	t.Helper()
	h, err := webhook.NewHandler(append([]webhook.Option{webhook.WithSecret(botSecret), webhook.WithClient(env.botClient(t))}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, h.RegisterAnswer("name", func(ctx context.Context, c *webhook.Conversation, m *chatshipper.Message) error {
		if err := c.Set(ctx, "name", m.Text); err != nil {
			return err
		}
		_, err := c.Say(ctx, "Nice to meet you, "+m.Text+"!")
		if err == nil {
			answered <- name + " " + m.Text
		}
		return err
	}))
	require.NoError(t, h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		if known := c.MetaString("name"); known != "" {
			_, err := c.Say(ctx, "Hello again, "+known+".")
			return err
		}
		_, err = c.Ask(ctx, "Hi! What is your name?", "name")
		return err
	}, webhook.MessageRole(chatshipper.RoleContact)))
	return h
}

func TestIntegrationAskOnOneReplicaAnswerOnAnother(t *testing.T) {
	t.Parallel()
	env := newBotEnv(t)
	answered := make(chan string, 4)
	a, b := askBot(t, env, "a", answered), askBot(t, env, "b", answered)
	lb := &balancer{}
	lb.send(a)
	hs := httptest.NewServer(lb)
	defer hs.Close()
	env.subscribe(t, hs.URL+"/hook")

	conv := env.contactSays(t, "", "Hello")
	env.wait(t)
	marker := webhook.AskedMetaKey(env.srv.Seed.BotUserID)
	assert.Equal(t, "name", env.convMeta(t, conv, marker), "replica a asked: the marker is in the conversation")

	lb.send(b) // the answer reaches the other replica, which holds no state
	env.contactSays(t, conv, "Jenny")
	env.wait(t)
	require.Len(t, answered, 1)
	assert.Equal(t, "b Jenny", <-answered)
	assert.Equal(t, "", env.convMeta(t, conv, marker), "the marker is cleared")
	assert.Equal(t, "Jenny", env.convMeta(t, conv, "name"))

	lb.send(a)
	env.contactSays(t, conv, "How are you?")
	env.wait(t)
	assert.Equal(t, []string{
		"contact: Hello",
		"bot: /set " + marker + " name",
		"agent: Hi! What is your name?",
		"contact: Jenny",
		"bot: /set",
		"bot: /set name Jenny",
		"agent: Nice to meet you, Jenny!",
		"contact: How are you?",
		"agent: Hello again, Jenny.",
	}, env.transcript(t, conv))
	for _, d := range env.srv.WebhookDeliveries() {
		assert.True(t, d.Delivered && d.Attempts == 1, "%+v", d)
	}
}

// capture records the body and signature of each delivery on its way to
// next, so a test can deliver one again later.
type capture struct {
	next http.Handler
	mu   sync.Mutex
	seen [][2]string // body, signature
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.seen = append(c.seen, [2]string{string(body), r.Header.Get(webhook.SignatureHeader)})
		c.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.next.ServeHTTP(w, r)
}

// redeliver posts the n-th captured delivery (from 0) to h, as the platform does when
// it retries a delivery whose answer it did not get.
func (c *capture) redeliver(t *testing.T, n int, h http.Handler) {
	t.Helper()
	c.mu.Lock()
	d := c.seen[n]
	c.mu.Unlock()
	req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader([]byte(d[0])))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, d[1])
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
}

// The event that asked is delivered again, late, after its question was
// answered (to a restarted replica: no duplicate memory). Its run finds the
// question stored: it neither sets the marker again nor asks twice, so the
// contact's next message goes to the handlers, not to the answer.
func TestIntegrationLateRedeliveryDoesNotRearmAsk(t *testing.T) {
	t.Parallel()
	env := newBotEnv(t)
	answered := make(chan string, 4)
	cp := &capture{next: askBot(t, env, "a", answered)}
	hs := httptest.NewServer(cp)
	defer hs.Close()
	env.subscribe(t, hs.URL+"/hook")

	conv := env.contactSays(t, "", "Hello")
	env.wait(t)
	env.contactSays(t, conv, "Jenny")
	env.wait(t)
	require.Len(t, answered, 1)

	cp.redeliver(t, 0, askBot(t, env, "restarted", answered))
	marker := webhook.AskedMetaKey(env.srv.Seed.BotUserID)
	assert.Equal(t, "", env.convMeta(t, conv, marker), "the answered question stays answered")

	env.contactSays(t, conv, "How are you?")
	env.wait(t)
	assert.Len(t, answered, 1, "no answer taken from an unrelated message")
	assert.Equal(t, []string{
		"contact: Hello",
		"bot: /set " + marker + " name",
		"agent: Hi! What is your name?",
		"contact: Jenny",
		"bot: /set",
		"bot: /set name Jenny",
		"agent: Nice to meet you, Jenny!",
		"contact: How are you?",
		"agent: Hello again, Jenny.",
	}, env.transcript(t, conv))
}

// echoBot is a replica that answers each contact message with two replies.
func echoBot(t *testing.T, env *botEnv, runs *atomic.Int32, opts ...webhook.Option) *webhook.Handler {
	t.Helper()
	h, err := webhook.NewHandler(append([]webhook.Option{webhook.WithSecret(botSecret), webhook.WithClient(env.botClient(t))}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		runs.Add(1)
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		if _, err := c.Say(ctx, "You said: "+e.Data.Message.Text); err != nil {
			return err
		}
		_, err = c.Accept(ctx)
		return err
	}, webhook.MessageRole(chatshipper.RoleContact)))
	return h
}

// The same event handled by two replicas, by a restarted one, and by one
// the platform delivers it to again after a failed answer: one reply (and
// one /accept) stored per event, with no shared store.
func TestIntegrationOneReplyPerEvent(t *testing.T) {
	t.Parallel()
	env := newBotEnv(t, chatshippertest.WithWebhookRetry(10*time.Millisecond, 3))
	var runs atomic.Int32
	a, b := echoBot(t, env, &runs), echoBot(t, env, &runs)
	restarted := echoBot(t, env, &runs) // a's successor: nothing in memory

	// d fails its first answer to every event after its handler ran (the
	// platform's answer was lost), so the fake delivers the event again.
	failed := sync.Map{}
	d := echoBot(t, env, &runs)
	require.NoError(t, d.Use(func(next webhook.HandlerFunc) webhook.HandlerFunc {
		return func(ctx context.Context, e *webhook.Event) error {
			err := next(ctx, e)
			if _, again := failed.LoadOrStore(e.ID, true); !again && err == nil {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}))

	lb := &balancer{}
	lb.send(d, a, b, restarted)
	hs := httptest.NewServer(lb)
	defer hs.Close()
	env.subscribe(t, hs.URL+"/hook")

	conv := env.contactSays(t, "", "one")
	env.wait(t)
	env.contactSays(t, conv, "two")
	env.wait(t)

	assert.Equal(t, int32(10), runs.Load(), "each event ran 5 times: d twice (a retry), a, b and the restarted a")
	assert.Equal(t, []string{
		"contact: one", "agent: You said: one", "bot: /accept",
		"contact: two", "agent: You said: two", "bot: /accept",
	}, env.transcript(t, conv))
	var retried int
	for _, dl := range env.srv.WebhookDeliveries() {
		assert.True(t, dl.Delivered, "%+v", dl)
		if dl.Attempts > 1 {
			retried++
		}
	}
	assert.Equal(t, 2, retried, "both contact messages were delivered twice")
}

// A marker naming an answer nobody registered (an old version's, a typo, a
// chipchat process's message ID) is logged and acknowledged at once: no
// panic, no retries.
func TestIntegrationUnknownAnswerIsAcknowledged(t *testing.T) {
	t.Parallel()
	env := newBotEnv(t)
	var logs safeBuffer
	h, err := webhook.NewHandler(webhook.WithSecret(botSecret), webhook.WithClient(env.botClient(t)),
		webhook.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, h.RegisterAnswer("name", func(context.Context, *webhook.Conversation, *chatshipper.Message) error {
		t.Error("the wrong answer ran")
		return nil
	}))
	var routed atomic.Int32
	require.NoError(t, h.OnMessage(func(context.Context, *webhook.Event) error { routed.Add(1); return nil },
		webhook.MessageRole(chatshipper.RoleContact)))
	hs := httptest.NewServer(h)
	defer hs.Close()
	env.subscribe(t, hs.URL+"/hook")

	conv := env.contactSays(t, "", "Hello")
	marker := webhook.AskedMetaKey(env.srv.Seed.BotUserID)
	_, _, err = env.consumer.Conversations.Send(context.Background(), conv, chatshipper.SetMeta(marker, "nobody"))
	require.NoError(t, err)
	env.contactSays(t, conv, "Jenny")
	env.wait(t)

	assert.Equal(t, int32(2), routed.Load(), "the message went to the handlers")
	assert.Equal(t, "nobody", env.convMeta(t, conv, marker), "the marker is left for whoever registered it")
	for _, d := range env.srv.WebhookDeliveries() {
		assert.True(t, d.Delivered && d.Attempts == 1 && d.Status == 200, "%+v", d)
	}
	assert.Contains(t, logs.String(), "answer=nobody")
	assert.NotContains(t, logs.String(), botSecret)
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
