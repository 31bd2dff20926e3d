package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
)

// recWebhookObserver records what a webhook Observer is told, one line each.
type recWebhookObserver struct {
	mu    sync.Mutex
	lines []string
}

type handlingKey struct{}

func (r *recWebhookObserver) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recWebhookObserver) WebhookEvent(_ context.Context, o Observation) {
	r.add("%s status=%d event=%s id=%s err=%v", o.Outcome, o.Status, o.EventName, o.EventID, o.Err)
}

func (r *recWebhookObserver) StartHandling(ctx context.Context, e *Event) context.Context {
	r.add("start %s %s", e.Name, e.ID)
	return context.WithValue(ctx, handlingKey{}, e.ID)
}

func (r *recWebhookObserver) EndHandling(ctx context.Context, e *Event, o Observation) {
	if ctx.Value(handlingKey{}) != e.ID {
		r.add("EndHandling without the context StartHandling returned")
	}
	r.add("%s %s %s in %s err=%v", o.Outcome, o.EventName, o.EventID, o.Duration, o.Err)
}

func (r *recWebhookObserver) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

// fixedDeduper answers every Begin with st and err.
type fixedDeduper struct {
	st  DedupeState
	err error
}

func (d fixedDeduper) Begin(_ context.Context, id string) (DedupeClaim, error) {
	return DedupeClaim{ID: id, State: d.st}, d.err
}
func (d fixedDeduper) Finish(context.Context, DedupeClaim, bool) error { return nil }

func TestObserverWebhookDeliveries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		obs := &recWebhookObserver{}
		h, err := NewHandler(WithSecret(whSecret), WithObserver(obs))
		require.NoError(t, err)
		const name = "message.create.contact.chat"
		require.NoError(t, h.Handle(name, func(ctx context.Context, e *Event) error {
			if ctx.Value(handlingKey{}) != e.ID {
				return errors.New("the handler did not get the observer's context")
			}
			time.Sleep(3 * time.Second)
			if e.Data.Message.Text == "fail" {
				return errors.New("boom")
			}
			return nil
		}))
		ok := whMsgEvent(t, "ev1", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "hi"))
		bad := whMsgEvent(t, "ev2", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "fail"))

		steps := []struct {
			name   string
			body   []byte
			sig    string
			status int
			want   []string
		}{
			{"bad signature", ok, "sha1=0000000000000000000000000000000000000000", 401,
				[]string{"refused status=401 event= id= err=<nil>"}},
			{"no signature", ok, "-", 401, []string{"refused status=401 event= id= err=<nil>"}},
			{"malformed", []byte("{"), Sign([]byte("{"), whSecret), 400, []string{"refused status=400 event= id= err=<nil>"}},
			{"handled", ok, Sign(ok, whSecret), 200, []string{
				"verified status=0 event=" + name + " id=ev1 err=<nil>",
				"start " + name + " ev1",
				"handled " + name + " ev1 in 3s err=<nil>",
			}},
			{"duplicate", ok, Sign(ok, whSecret), 200, []string{
				"verified status=0 event=" + name + " id=ev1 err=<nil>",
				"duplicate status=0 event=" + name + " id=ev1 err=<nil>",
			}},
			{"failed", bad, Sign(bad, whSecret), 500, []string{
				"verified status=0 event=" + name + " id=ev2 err=<nil>",
				"start " + name + " ev2",
				"failed " + name + " ev2 in 3s err=boom",
			}},
		}
		for _, st := range steps {
			w := whPost(h, st.body, st.sig)
			assert.Equal(t, st.status, w.Code, st.name)
			assert.Equal(t, st.want, obs.take(), st.name)
		}

		// Dispatch: no signature to verify; a duplicate is one all the same.
		e, err := ParseEvent(ok)
		require.NoError(t, err)
		require.NoError(t, h.Dispatch(context.Background(), e))
		assert.Equal(t, []string{"duplicate status=0 event=" + name + " id=ev1 err=<nil>"}, obs.take())
	})
}

func TestObserverWebhookDedupeStates(t *testing.T) {
	t.Parallel()
	const name = "message.create.contact.chat"
	unavailable := errors.New("redis down")
	tests := []struct {
		name   string
		d      fixedDeduper
		status int
		want   string
	}{
		{"in progress", fixedDeduper{st: DedupeRunning}, 503, "in_progress status=0 event=" + name + " id=ev1 err=<nil>"},
		{"dedupe unavailable", fixedDeduper{err: unavailable}, 503, "unavailable status=0 event=" + name + " id=ev1 err=redis down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obs := &recWebhookObserver{}
			h, err := NewHandler(WithDeduper(tc.d), WithObserver(obs))
			require.NoError(t, err)
			body := whMsgEvent(t, "ev1", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "hi"))
			w := whPost(h, body, "-")
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, []string{tc.want}, obs.take(), "no verified without a secret")
		})
	}
}

func TestObserverWebhookShutdown(t *testing.T) {
	t.Parallel()
	obs := &recWebhookObserver{}
	h, err := NewHandler(WithAsync(1, 1), WithObserver(obs))
	require.NoError(t, err)
	require.NoError(t, h.Shutdown(context.Background()))
	body := whMsgEvent(t, "ev1", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "hi"))
	e, err := ParseEvent(body)
	require.NoError(t, err)
	// A delivery that passed the first check before the shutdown began is
	// refused by the queue: it is reported as unavailable.
	w := httptest.NewRecorder()
	h.enqueue(w, httptest.NewRequest(http.MethodPost, "/hook", nil), e, DedupeClaim{ID: e.ID, State: DedupeNew})
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, []string{"unavailable status=503 event=message.create.contact.chat id=ev1 err=<nil>"}, obs.take())

	// A delivery after the shutdown is turned away before it is read.
	w = whPost(h, body, "-")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, []string{"unavailable status=503 event= id= err=<nil>"}, obs.take())
}
