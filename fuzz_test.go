package chatshipper

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// FuzzRefDecode: a Ref never panics on any input, and whatever it accepts
// marshals back to something that decodes to the same reference.
func FuzzRefDecode(f *testing.F) {
	for _, s := range []string{`"5bb0277fd99faf11a3f4a37e"`, `{"id":"5bb0277fd99faf11a3f4a37e","name":"x"}`, `null`, `""`, `{}`, `12`, `[`, `{"id":5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Ref[Conversation]
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted %q but cannot marshal it: %v", data, err)
		}
		var again Ref[Conversation]
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("re-decoding %q: %v", out, err)
		}
		if again.ID != r.ID || again.Populated() != r.Populated() {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}

// FuzzErrorBody: any error body of any status maps to a typed error without
// panicking, and the error keeps the status.
func FuzzErrorBody(f *testing.F) {
	for _, s := range []string{`{"message":"bad"}`, `{"error":{"message":"jwt expired"}}`, `{"error":"x"}`, `<html>`, ``, `{"error":{"message":1}}`,
		`{"error":{"message":"Loop limit: more than 8 identical messages in 3 minutes"}}`} {
		f.Add(400, []byte(s))
		f.Add(429, []byte(s))
	}
	c := &Client{}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 300 || status > 599 {
			return
		}
		_ = parseErrorMessage(body)
		u, _ := url.Parse("https://api.test/v2/conversations/5bb0277fd99faf11a3f4a37e/messages")
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"3"}}, Body: io.NopCloser(bytes.NewReader(body)),
			Request: &http.Request{Method: "POST", URL: u}}
		err := c.checkResponse(resp, &callState{attempts: 1})
		if err == nil {
			t.Fatalf("status %d gave no error", status)
		}
		var er *ErrorResponse
		var le *LoopLimitError
		switch e := err.(type) {
		case *ErrorResponse:
			er = e
		case *RateLimitError:
			er = e.Err
		case *LoopLimitError:
			le = e
		}
		if er == nil && le == nil {
			t.Fatalf("untyped error %T", err)
		}
		if er != nil && er.StatusCode != status {
			t.Fatalf("status %d became %d", status, er.StatusCode)
		}
	})
}

// FuzzPlainJSONString: the decoder-free path agrees with encoding/json on
// every string it accepts.
func FuzzPlainJSONString(f *testing.F) {
	for _, s := range []string{`"5bb0277fd99faf11a3f4a37e"`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\x01\"", `""`, `"`, `"a"b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := plainJSONString(b)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("plain path accepted %q, encoding/json refused: %v", b, err)
		}
		if got != want {
			t.Fatalf("%q: plain %q, encoding/json %q", b, got, want)
		}
	})
}
