package redteam_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/chatshippertest/replay"
)

// The same automation recorded against the fake (with faults that make the
// delivery lookups run) and then replayed. Promise: "so that code sending
// messages replays with delivery tracking on, as by default"; fixtures hold
// no secrets.
func TestRedteamReplayDeliveryKeys(t *testing.T) { testReplay(t, false) }

// The same with a connection dropped after the server stored the messages:
// the recording skips the dropped exchange (its number is missing), so the
// replay of the send fails with "no recorded exchange".
func TestRedteamReplayDroppedConnection(t *testing.T) { testReplay(t, true) }

func testReplay(t *testing.T, withDrop bool) {
	dir := filepath.Join(t.TempDir(), "fixtures")
	if d := os.Getenv("REDTEAM_KEEP"); d != "" {
		dir = d
	}
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0), chatshippertest.WithLoopLimits(0, 0, 0, 0))
	secrets := []string{srv.Token, srv.Seed.BotPassword, "hookpa55word", "qtok3nvalue99", "whsec-replay-secret"}

	scenario := func(t *testing.T, rp *replay.Session, base string, inject func(f chatshippertest.Fault)) {
		t.Helper()
		ctx := context.Background()
		opts := append(rp.ClientOptions(), chatshipper.WithBaseURL(base), chatshipper.WithRateLimit(0), chatshipper.WithLoopGuard(false),
			chatshipper.WithRetryWait(time.Millisecond, 2*time.Millisecond))
		tok, err := chatshipper.Login(ctx, chatshipper.Credentials{Email: srv.Seed.BotEmail, Password: srv.Seed.BotPassword}, opts...)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		_ = tok
		c, err := chatshipper.NewClient(srv.Token, opts...)
		if err != nil {
			t.Fatal(err)
		}
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "replay"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		// caller keys, short and long
		for _, key := range []string{"r-1", "reply-key-longer-than-16"} {
			for i := 0; i < 2; i++ {
				msgs, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("keyed "+key).WithMeta(chatshipper.DeliveryKeyMeta, key))
				if err != nil || len(msgs) != 1 || msgs[0].Text != "keyed "+key {
					t.Fatalf("keyed send %s #%d: %v %v", key, i, msgs, err)
				}
			}
		}
		// ambiguous outcomes: 500 after storing, dropped after storing
		inject(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + conv.ID, Status: 500, After: true, Count: 1})
		msgs, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("b"), chatshipper.Chat("c"))
		if err != nil || len(msgs) != 2 || msgs[0].Text != "b" || msgs[1].Text != "c" {
			t.Fatalf("send after 500: %v %v", msgs, err)
		}
		if withDrop {
			inject(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + conv.ID, Drop: chatshippertest.DropAfter, Count: 1})
		}
		msgs, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("d").WithMeta(chatshipper.DeliveryKeyMeta, "d-1"), chatshipper.Chat("e"))
		if err != nil || len(msgs) != 2 || msgs[0].Text != "d" || msgs[1].Text != "e" {
			t.Fatalf("send after drop: %v %v", msgs, err)
		}
		// conversation create answered 500 after storing
		inject(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Status: 500, After: true, Count: 1})
		conv2, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "replay2", Messages: []chatshipper.MessageInput{chatshipper.Chat("first")}})
		if err != nil || conv2 == nil || conv2.Name != "replay2" {
			t.Fatalf("create after 500: %v %v", conv2, err)
		}
		_, _, err = c.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{Name: "h", URL: "http://hookuser:hookpa55word@127.0.0.1:1/cb?token=qtok3nvalue99&x=1", Secret: "whsec-replay-secret"})
		if err != nil {
			t.Fatalf("webhook: %v", err)
		}
	}

	t.Run("record", func(t *testing.T) {
		rp := replay.New(t, dir, replay.WithRecording(true))
		scenario(t, rp, srv.URL, srv.InjectFault)
	})
	// secrets in the fixture files
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets {
			if s != "" && strings.Contains(string(b), s) {
				t.Errorf("fixture %s holds secret %q", filepath.Base(p), s)
			}
		}
		if strings.Contains(filepath.Base(p), "hookpa55") {
			t.Errorf("file name %s holds a secret", p)
		}
		return nil
	})
	t.Run("replay", func(t *testing.T) {
		rp := replay.New(t, dir, replay.WithRecording(false))
		scenario(t, rp, "http://127.0.0.1:9/v2/", func(chatshippertest.Fault) {})
		if u := rp.Replayer().Unused(); len(u) > 0 {
			t.Errorf("recorded but not replayed: %v", u)
		}
	})
}

// Recording then replaying one webhook create whose URL carries credentials.
// Promise: "The replayer runs the same scrubbing over each incoming request
// before matching"; the recording must replay.
func TestRedteamReplayWebhookURL(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:1/cb?token=qtok3nvalue99",
		"http://127.0.0.1:1/cb?token=qtok3nvalue99&x=1",
		"http://hookuser:hookpa55word@127.0.0.1:1/cb",
		"http://hookuser:hookpa55word@127.0.0.1:1/cb?token=qtok3nvalue99",
	} {
		t.Run(u, func(t *testing.T) {
			srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
			dir := filepath.Join(t.TempDir(), "fx")
			run := func(t *testing.T, rp *replay.Session, base string) {
				c, err := chatshipper.NewClient(srv.Token, append(rp.ClientOptions(), chatshipper.WithBaseURL(base), chatshipper.WithRateLimit(0))...)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Services.CreateWebhook(context.Background(), &chatshipper.WebhookServiceCreate{Name: "h", URL: u, Secret: "whsec-replay-secret"}); err != nil {
					t.Fatalf("webhook: %v", err)
				}
			}
			t.Run("record", func(t *testing.T) { run(t, replay.New(t, dir, replay.WithRecording(true)), srv.URL) })
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, `"url"`) {
						t.Logf("%s: %s", filepath.Base(f), strings.TrimSpace(line))
						break
					}
				}
			}
			t.Run("replay", func(t *testing.T) { run(t, replay.New(t, dir, replay.WithRecording(false)), "http://127.0.0.1:9/v2/") })
		})
	}
}
