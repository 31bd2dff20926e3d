package chatshippertest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// send makes one authenticated JSON request and decodes the answer into out.
func send(srv *chatshippertest.Server, method, path, body string, out any) int {
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// A bot creates a team conversation and notifies the organization's
// channels; an agent then accepts it.
func Example() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()

	var conv struct {
		ID       string   `json:"id"`
		Status   string   `json:"status"`
		Messages []string `json:"messages"`
		Channels []string `json:"channels"`
	}
	status := send(srv, "POST", "conversations",
		`{"messages":[{"text":"Hello"},{"type":"command","text":"/notify"}]}`, &conv)
	fmt.Println(status, conv.Status, len(conv.Messages), "messages,", len(conv.Channels), "channels")

	accept := fmt.Sprintf(`{"type":"command","text":"/accept","user":%q}`, srv.Seed.AgentUserIDs[0])
	send(srv, "POST", "conversations/"+conv.ID+"/messages", accept, nil)
	send(srv, "GET", "conversations/"+conv.ID+"?select=status", "", &conv)
	fmt.Println(conv.Status)
	// Output:
	// 201 queued 2 messages, 2 channels
	// active
}

// Faults make the next matching requests fail, here once with a 503 that
// asks the client to come back later.
func ExampleServer_InjectFault() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/users", Count: 1,
		Status: http.StatusServiceUnavailable, RetryAfter: "2"})

	var body map[string]any
	fmt.Println(send(srv, "GET", "users", "", &body), body)
	fmt.Println(send(srv, "GET", "users", "", nil))
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Path, r.Status)
	}
	// Output:
	// 503 map[error:map[message:Service Unavailable]]
	// 200
	// GET /v2/users 503
	// GET /v2/users 200
}

// A webhook service is verified with a challenge, then receives signed events.
func ExampleServer_WaitDeliveries() {
	secret := "s3cr3t"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet { // verification: echo the challenge
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(body)
		var ev struct{ Event string }
		_ = json.Unmarshal(body, &ev)
		fmt.Println(ev.Event, r.Header.Get("X-Hub-Signature") == "sha1="+hex.EncodeToString(mac.Sum(nil)))
	}))
	defer hook.Close()
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()

	params := fmt.Sprintf(`{"type":"webhook","params":{"url":%q,"secret":%q,"events":["message.create.*.*"]}}`, hook.URL, secret)
	req, _ := http.NewRequest("POST", srv.URL+"services", strings.NewReader(params))
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
	resp, _ := srv.Client().Do(req)
	_ = resp.Body.Close()
	_ = srv.WaitDeliveries(context.Background()) // the verification

	send(srv, "POST", "conversations", `{"messages":[{"text":"Hi"},{"type":"command","text":">onboard"}]}`, nil)
	_ = srv.WaitDeliveries(context.Background())
	// Output:
	// message.create.bot.chat true
	// message.create.bot.command true
}

// A profile makes the fake another server the documentation allows: here
// one whose pages hold at most 10 items, whatever limit is asked, and whose
// answers carry no Link header.
func ExampleParseProfile() {
	p, err := chatshippertest.ParseProfile("page-cap-10+no-link")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := chatshippertest.NewServer(nil, chatshippertest.WithRateLimit(0), p.Option)
	defer srv.Close()
	for range 25 {
		srv.Put("contacts", map[string]any{"name": "Ann"})
	}

	req, _ := http.NewRequest("GET", srv.URL+"contacts?name=Ann&limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	var page []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&page)
	fmt.Println(p.Name, "-", p.Area)
	fmt.Println(len(page), "items; X-Per-Page", resp.Header.Get("X-Per-Page"), "X-Total", resp.Header.Get("X-Total"),
		"Link", fmt.Sprintf("%q", resp.Header.Get("Link")))
	// Output:
	// page-cap-10+no-link - pages
	// 10 items; X-Per-Page 10 X-Total 25 Link ""
}

// Profiles lists every documented profile, for suites that run their
// promises against each.
func ExampleProfiles() {
	for _, p := range chatshippertest.Profiles()[:3] {
		fmt.Println(p.Name, "|", p.Area, "|", p.URL)
	}
	// Output:
	// page-cap-10 | pages | https://developers.chatshipper.com/docs/api-introduction
	// page-cap-50 | pages | https://developers.chatshipper.com/docs/api-introduction
	// id-compare-ignored | pages | https://developers.chatshipper.com/docs/api-resource-sets
}
