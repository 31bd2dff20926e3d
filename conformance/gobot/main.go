// Command gobot is a bot written with this SDK's webhook package, for the
// conformance program in the folder above: it checks that a chipchat bot and
// a Go bot with the same user read each other's questions (the _asked<bot>
// marker in the conversation's meta).
//
// It is configured the way a chipchat bot is, from the environment
// (webhook.NewBotFromEnv with chipchat's names: TOKEN, APIHOST, SECRET,
// WEBHOOK_PATH, and CHATSHIPPER_LISTEN_ADDR or PORT), and prints one line of
// JSON on stdout, {"url": "<webhook URL>"}, once it listens. When a contact
// writes "go ask" it asks "What is your favorite color?" with the answer
// named "color"; the answer "color" replies "Go bot: <text> is a fine
// color." It also records which of chipchat's event aliases (notify, assign,
// command, mention) each message raised, through the handler's OnNotify,
// OnAssign, OnCommand and OnMention, and answers GET <path>/aliases?message=<id>
// with {"aliases": [...]} (sorted), so the conformance program compares them
// with chipchat's. It runs until stdin is closed or it gets SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// aliases records the aliases each message raised.
type aliases struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (a *aliases) record(name string) webhook.HandlerFunc {
	return func(_ context.Context, e *webhook.Event) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		id := e.Data.Message.ID
		a.seen[id] = append(a.seen[id], name)
		return nil
	}
}

func (a *aliases) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	got := slices.Clone(a.seen[r.URL.Query().Get("message")])
	a.mu.Unlock()
	slices.Sort(got)
	if got == nil {
		got = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"aliases": got})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gobot:", err)
		os.Exit(1)
	}
}

func run() error {
	bot, err := webhook.NewBotFromEnv(nil)
	if err != nil {
		return err
	}
	h := bot.Handler
	if err := h.RegisterAnswer("color", func(ctx context.Context, c *webhook.Conversation, m *chatshipper.Message) error {
		_, err := c.Say(ctx, "Go bot: "+m.Text+" is a fine color.")
		return err
	}); err != nil {
		return err
	}
	if err := h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		_, err = c.Ask(ctx, "What is your favorite color?", "color")
		return err
	}, webhook.MessageRole(chatshipper.RoleContact), webhook.OnTextFold("go ask")); err != nil {
		return err
	}

	seen := &aliases{seen: map[string][]string{}}
	for _, reg := range []struct {
		name string
		on   func(webhook.HandlerFunc, ...webhook.EventFilter) error
	}{{"notify", h.OnNotify}, {"assign", h.OnAssign}, {"command", h.OnCommand}, {"mention", h.OnMention}} {
		if err := reg.on(seen.record(reg.name)); err != nil {
			return err
		}
	}
	mux := bot.ServeMux()
	mux.Handle("GET "+bot.Path+"/aliases", seen)

	ln, err := net.Listen("tcp", bot.Addr)
	if err != nil {
		return err
	}
	info, err := json.Marshal(map[string]string{"url": "http://" + ln.Addr().String() + bot.Path})
	if err != nil {
		return err
	}
	fmt.Println(string(info))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if herr := h.Shutdown(shutdown); err == nil {
		err = herr
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
