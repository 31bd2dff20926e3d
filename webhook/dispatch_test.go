package webhook

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/go-chatshipper/chatshipper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder registers handlers on a few patterns and records which ran, in
// order, for comparing two handlers fed the same events.
func recorder(t testing.TB, h *Handler) func() []string {
	t.Helper()
	var mu sync.Mutex
	var runs []string
	add := func(pattern string, filters ...EventFilter) {
		require.NoError(t, h.Handle(pattern, func(_ context.Context, e *Event) error {
			mu.Lock()
			defer mu.Unlock()
			runs = append(runs, pattern+" "+e.ID)
			return nil
		}, filters...))
	}
	add("**")
	add("message.create.**", MessageRole(chatshipper.RoleContact))
	add("message.create.*.chat", OnTextFold("hi there"))
	add("*.update")
	add("service.create")
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), runs...)
	}
}

func TestDispatchRunsWhatServeHTTPRuns(t *testing.T) {
	t.Parallel()
	chat := func(user string, role chatshipper.Role, text string) map[string]any {
		return whMessage(user, role, chatshipper.MessageTypeChat, text)
	}
	bodies := [][]byte{
		whFixture(t, "message.create.contact.chat.json"),
		whFixture(t, "message.create.contact.chat.json"), // a duplicate
		whMsgEvent(t, "d1", chatshipper.ConversationContact, chat(whContact, chatshipper.RoleContact, "Hi there")),
		whMsgEvent(t, "d2", chatshipper.ConversationContact, chat(whBot, chatshipper.RoleAgent, "own message")),
		whMsgEvent(t, "d3", chatshipper.ConversationBot, chat(whAgent, chatshipper.RoleBot, "another bot")),
		whEvent(t, "d4", "message.error", map[string]any{"message": chat(whBot, chatshipper.RoleAgent, "failed")}),
		whFixture(t, "conversation.update.json"),
		whFixture(t, "service.create.json"),
		whEvent(t, "", "service.create", nil), // no ID: never a duplicate
		whEvent(t, "", "service.create", nil),
		whMsgEvent(t, "d1", chatshipper.ConversationContact, chat(whContact, chatshipper.RoleContact, "Hi there")),
	}
	opts := []Option{WithSelfUser(whBot), WithSkipBots(true)}
	viaHTTP, viaDispatch := newWH(t, opts...), newWH(t, opts...)
	httpRuns, dispatchRuns := recorder(t, viaHTTP), recorder(t, viaDispatch)
	for i, b := range bodies {
		require.Equal(t, 200, whSigned(viaHTTP, b).Code, i)
		e, err := ParseEvent(b)
		require.NoError(t, err, i)
		require.NoError(t, viaDispatch.Dispatch(context.Background(), e), i)
	}
	assert.Equal(t, httpRuns(), dispatchRuns())
	assert.Equal(t, []string{
		"** 3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90",
		"message.create.** 3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90",
		"** d1", "message.create.** d1", "message.create.*.chat d1",
		"** d4",
		"** 8a6b4c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d", "*.update 8a6b4c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d",
		"** c0ffee00-1234-4bcd-8ef0-123456789abc", "service.create c0ffee00-1234-4bcd-8ef0-123456789abc",
		"** ", "service.create ",
		"** ", "service.create ",
	}, dispatchRuns(), "own and bot messages dropped, duplicates run once")
}

func TestDispatchAndServeHTTPShareDedupe(t *testing.T) {
	t.Parallel()
	body := whFixture(t, "message.create.contact.chat.json")
	t.Run("HTTP first", func(t *testing.T) {
		t.Parallel()
		h := newWH(t)
		n := counter(t, h)
		require.Equal(t, 200, whSigned(h, body).Code)
		e, err := ParseEvent(body)
		require.NoError(t, err)
		require.NoError(t, h.Dispatch(context.Background(), e), "a duplicate is not an error")
		assert.EqualValues(t, 1, n.Load())
	})
	t.Run("Dispatch first", func(t *testing.T) {
		t.Parallel()
		h := newWH(t)
		n := counter(t, h)
		e, err := ParseEvent(body)
		require.NoError(t, err)
		require.NoError(t, h.Dispatch(context.Background(), e))
		require.NoError(t, h.Dispatch(context.Background(), e))
		require.Equal(t, 200, whSigned(h, body).Code)
		assert.EqualValues(t, 1, n.Load())
	})
}

func TestDispatchReturnsHandlerErrors(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	var reported error
	h := newWH(t, WithErrorHandler(func(_ *Event, err error) { reported = err }))
	var calls int
	require.NoError(t, h.Handle("**", func(context.Context, *Event) error {
		calls++
		if calls == 1 {
			return errBoom
		}
		return nil
	}))
	require.NoError(t, h.Handle("service.*", func(context.Context, *Event) error { panic("bug") }))
	e, err := ParseEvent(whFixture(t, "message.create.contact.chat.json"))
	require.NoError(t, err)

	err = h.Dispatch(context.Background(), e)
	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, err, reported, "the error handler is told as for ServeHTTP")
	require.NoError(t, h.Dispatch(context.Background(), e), "a failed event is forgotten: it runs again")
	require.NoError(t, h.Dispatch(context.Background(), e), "now done: not run a third time")
	assert.Equal(t, 2, calls)

	svc, err := ParseEvent(whFixture(t, "service.create.json"))
	require.NoError(t, err)
	var pe *PanicError
	require.ErrorAs(t, h.Dispatch(context.Background(), svc), &pe)
	assert.Equal(t, "service.*", pe.Pattern)
}

func TestDispatchRefusesBadInput(t *testing.T) {
	t.Parallel()
	h := newWH(t)
	n := counter(t, h)
	for name, e := range map[string]*Event{"nil event": nil, "no name": {ID: "x"}} {
		err := h.Dispatch(context.Background(), e)
		var ae *chatshipper.ArgumentError
		require.ErrorAs(t, err, &ae, name)
		assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument, name)
	}
	var noCtx context.Context // a nil context is the bad input under test
	require.ErrorIs(t, h.Dispatch(noCtx, &Event{Name: "service.create"}), chatshipper.ErrInvalidArgument)
	assert.Zero(t, n.Load())
}

func TestDispatchObservesAndFiltersOwnMessages(t *testing.T) {
	t.Parallel()
	c := &fakeClient{self: func(context.Context) (string, error) { return whBot, nil }}
	h := newWH(t, WithClient(c))
	n := counter(t, h)
	own, err := ParseEvent(whMsgEvent(t, "o1", chatshipper.ConversationContact,
		whMessage(whBot, chatshipper.RoleAgent, chatshipper.MessageTypeChat, "Hello!")))
	require.NoError(t, err)
	contact, err := ParseEvent(whMsgEvent(t, "o2", chatshipper.ConversationContact,
		whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "Hi")))
	require.NoError(t, err)
	require.NoError(t, h.Dispatch(context.Background(), own))
	require.NoError(t, h.Dispatch(context.Background(), contact))
	assert.EqualValues(t, 1, n.Load(), "the own message is not dispatched")
	assert.Len(t, c.seenMessages(), 2, "the loop guard sees both")
	assert.Equal(t, 1, c.lookupCount())
}

func TestDispatchWhileRunningAndAfterShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newWH(t, WithAsync(1, 4)) // Dispatch runs in the caller even in async mode
		release := make(chan struct{})
		var calls atomic.Int32
		require.NoError(t, h.Handle("**", func(context.Context, *Event) error { calls.Add(1); <-release; return nil }))
		e, err := ParseEvent(whFixture(t, "service.create.json"))
		require.NoError(t, err)

		first := make(chan error)
		go func() { first <- h.Dispatch(context.Background(), e) }()
		synctest.Wait() // the first Dispatch is inside its handler
		require.ErrorIs(t, h.Dispatch(context.Background(), e), ErrInProgress)

		stopped := make(chan error)
		go func() { stopped <- h.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("Shutdown returned while a Dispatch was running")
		default:
		}
		require.ErrorIs(t, h.Dispatch(context.Background(), e), ErrClosed)
		close(release)
		require.NoError(t, <-first)
		require.NoError(t, <-stopped)
		assert.EqualValues(t, 1, calls.Load())
	})
}
