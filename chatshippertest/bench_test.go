package chatshippertest

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func benchServe(b *testing.B, srv *Server, method, path, body string, want int) {
	b.Helper()
	for b.Loop() {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCreateConversation: POST /v2/conversations with a chat message
// and a /notify command, handler only (no socket).
func BenchmarkCreateConversation(b *testing.B) {
	srv := NewInProcessServer(b, WithRateLimit(0), WithLoopLimits(0, 0, 0, 0))
	benchServe(b, srv, "POST", "/v2/conversations",
		`{"messages":[{"text":"Hello"},{"type":"command","text":"/notify"}]}`, 201)
}

// BenchmarkListConversationsPopulated: one page of 200 conversations (from
// 1000) with messages and participants populated.
func BenchmarkListConversationsPopulated(b *testing.B) {
	srv := NewInProcessServer(b, WithRateLimit(0), WithLoopLimits(0, 0, 0, 0))
	for range 1000 {
		req := httptest.NewRequest("POST", "/v2/conversations", strings.NewReader(`{"messages":[{"text":"Hello"},{"type":"command","text":"/notify"}]}`))
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	benchServe(b, srv, "GET", "/v2/conversations?status=queued&sort=-createdAt&populate=messages,participants.user:name", "", 200)
}
