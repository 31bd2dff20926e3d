package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
)

// syncBuffer is a bytes.Buffer safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHandlerLogsToDefaultLogger: with no logger and no error handler set, a
// failed handler and an unknown own user are logged to slog.Default() (the
// latter once, not per event); WithErrorHandler takes the errors instead, and
// WithLogger(nil) silences both. Not parallel: it replaces slog.Default.
func TestHandlerLogsToDefaultLogger(t *testing.T) {
	var out syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	failing := func(t *testing.T, h *Handler) {
		t.Helper()
		require.NoError(t, h.Handle("**", func(context.Context, *Event) error { return errors.New("crm down") }))
	}
	contactMsg := func(id string) []byte {
		return whMsgEvent(t, id, chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "hi"))
	}

	t.Run("handler error", func(t *testing.T) {
		h := newWH(t)
		failing(t, h)
		require.Equal(t, 500, whSigned(h, contactMsg("e1")).Code)
		assert.Contains(t, out.String(), `level=ERROR msg="chatshipper: webhook handler failed" event=message.create.contact.chat id=e1 error="crm down"`)
	})

	t.Run("error handler takes it", func(t *testing.T) {
		var got error
		h := newWH(t, WithErrorHandler(func(_ *Event, err error) { got = err }))
		failing(t, h)
		require.Equal(t, 500, whSigned(h, contactMsg("e2")).Code)
		require.EqualError(t, got, "crm down")
		assert.NotContains(t, out.String(), "id=e2")
	})

	t.Run("silenced", func(t *testing.T) {
		h := newWH(t, WithLogger(nil))
		failing(t, h)
		require.Equal(t, 500, whSigned(h, contactMsg("e3")).Code)
		assert.NotContains(t, out.String(), "id=e3")
		h2 := newWH(t, WithLogger(nil), WithClient(&fakeClient{}))
		require.NoError(t, h2.Handle("**", func(context.Context, *Event) error { return nil }))
		require.Equal(t, 200, whSigned(h2, contactMsg("e4")).Code)
		assert.NotContains(t, out.String(), "own user unknown")
	})

	t.Run("own user unknown once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := &fakeClient{} // a token that is not a JWT: ErrSelfUnknown
			h := newWH(t, WithClient(c))
			require.NoError(t, h.Handle("**", func(context.Context, *Event) error { return nil }))
			for i := range 5 {
				require.Equal(t, 200, whSigned(h, contactMsg("u"+string(rune('a'+i)))).Code)
				time.Sleep(selfRetryInterval) // every event asks again
			}
			assert.Equal(t, 5, c.lookupCount())
		})
		const line = `level=WARN msg="chatshipper: webhook: own user unknown, so the bot's own messages are not skipped; give its user ID with webhook.WithSelfUser" error="chatshipper: the token's own user ID is unknown"`
		assert.Equal(t, 1, strings.Count(out.String(), line), out.String())
	})
}

// With WithLogger, the unknown own user is logged there, once.
func TestHandlerLogsOwnUserUnknownOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		c := &fakeClient{}
		h := newWH(t, WithClient(c), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
		n := counter(t, h)
		for _, id := range []string{"a", "b", "c"} {
			require.Equal(t, 200, whSigned(h, whMsgEvent(t, id, chatshipper.ConversationContact,
				whMessage(whBot, chatshipper.RoleAgent, chatshipper.MessageTypeChat, "Hello!"))).Code)
			time.Sleep(selfRetryInterval)
		}
		assert.EqualValues(t, 3, n.Load(), "own messages are not dropped: the filter cannot tell them")
		assert.Equal(t, 3, c.lookupCount())
		assert.Equal(t, 1, strings.Count(logs.String(), `"msg":"chatshipper: webhook: own user unknown, so the bot's own messages are not skipped; give its user ID with webhook.WithSelfUser"`), logs.String())
	})
}
