package chatshippertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchIsAllOrNothing: a batch POST is one transaction: when a message
// of it is refused, none of the batch is stored, and a batch that goes in
// is stored in order, as one block of the conversation's messages.
func TestBatchIsAllOrNothing(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	conv := mustCall(t, srv, 201, "POST", "conversations", srv.Token, m{"name": "batch"}).obj(t)
	path := "conversations/" + conv["id"].(string) + "/messages"
	mustCall(t, srv, 201, "POST", path, srv.Token, []any{m{"text": "one"}, m{"text": "two"}})
	before := len(srv.List("messages"))
	r := mustCall(t, srv, 422, "POST", path, srv.Token, []any{m{"text": "three"}, m{"text": "four"},
		m{"text": "five", "user": "000000000000000000000000"}})
	assert.Contains(t, r.errMsg(t), "not found")
	assert.Len(t, srv.List("messages"), before, "nothing of the refused batch is stored")
	got, _ := srv.Get("conversations", conv["id"].(string))
	assert.Len(t, got["messages"], 2)
	var texts []string
	for _, id := range got["messages"].([]any) {
		msg, _ := srv.Get("messages", id.(string))
		texts = append(texts, msg["text"].(string))
	}
	assert.Equal(t, []string{"one", "two"}, texts)
}

// TestFaultAfterWithDelay: After with a Delay acts first and answers late;
// without After the Delay comes first and a client that gives up before it
// ends leaves nothing stored.
func TestFaultAfterWithDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  Fault
		stored int
	}{
		{"after acting", Fault{Method: "POST", Count: 1, Delay: 3 * time.Second, After: true}, 1},
		{"before acting", Fault{Method: "POST", Count: 1, Delay: 3 * time.Second}, 0},
		{"after acting, then 502", Fault{Method: "POST", Count: 1, Delay: 3 * time.Second, After: true, Status: 502}, 1},
		{"after acting, then dropped", Fault{Method: "POST", Count: 1, Delay: 3 * time.Second, After: true, Drop: DropAfter}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := NewInProcessServer(t, WithRateLimit(0))
				srv.InjectFault(tc.fault)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"conversations", jsonBody(t, m{"name": "late"}))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+srv.Token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := srv.Client().Do(req)
				if err == nil {
					_ = resp.Body.Close()
				}
				require.ErrorIs(t, err, context.DeadlineExceeded, "the client gave up first")
				synctest.Wait()
				assert.Len(t, srv.List("conversations"), tc.stored)
			})
		})
	}
	t.Run("answered when the client waits", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := NewInProcessServer(t, WithRateLimit(0))
			srv.InjectFault(Fault{Method: "POST", Count: 1, Delay: 3 * time.Second, After: true})
			req, err := http.NewRequest("POST", srv.URL+"conversations", jsonBody(t, m{"name": "late"}))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+srv.Token)
			start := time.Now()
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, 201, resp.StatusCode, "the real answer, late")
			assert.Equal(t, 3*time.Second, time.Since(start))
		})
	})
}

// TestMessagesByDeliveryKey: messages are found by a meta dot path with an
// In list, within a conversation.
func TestMessagesByDeliveryKey(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	conv := mustCall(t, srv, 201, "POST", "conversations", srv.Token, m{"name": "keys"}).obj(t)
	id := conv["id"].(string)
	mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token, []any{
		m{"text": "a", "meta": m{"k": "k1"}}, m{"text": "b", "meta": m{"k": "k2"}}, m{"text": "c", "meta": m{"k": "k3"}}})
	got := mustCall(t, srv, 200, "GET", "messages?conversation="+id+"&meta.k=[k1,k3]", srv.Token, nil).list(t)
	require.Len(t, got, 2)
	assert.Equal(t, "a", got[0].(map[string]any)["text"])
	assert.Equal(t, "c", got[1].(map[string]any)["text"])
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return bytes.NewReader(b)
}
