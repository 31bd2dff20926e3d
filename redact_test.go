package chatshipper

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// %#v of a value that holds a secret is its String, the same output as when
// these types had GoString methods: each has a Format method, which fmt
// calls for every verb, %#v included, so a GoString would never be reached.
// The types therefore have none (the test fails if one comes back), and the
// secret stays out whether the value is printed alone or as a field.
func TestSharpVIsStringWithoutGoString(t *testing.T) {
	t.Parallel()
	secrets := []string{testToken, canaryRefresh, canaryPassword, canaryOTP, canarySecret}
	for _, tt := range sharpVValues(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, isGoStringer := tt.v.(fmt.GoStringer)
			assert.False(t, isGoStringer, "GoString is unreachable beside Format")
			require.Implements(t, (*fmt.Formatter)(nil), tt.v)
			assert.Equal(t, tt.want, fmt.Sprintf("%#v", tt.v))
			assert.Equal(t, tt.v.(fmt.Stringer).String(), fmt.Sprintf("%#v", tt.v))
			nested := fmt.Sprintf("%#v", struct{ V any }{tt.v})
			assert.Equal(t, "struct { V interface {} }{V:"+tt.want+"}", nested)
			for _, s := range secrets {
				assert.NotContains(t, tt.want, s)
			}
		})
	}
}

// sharpVValues are the exported types that print redacted, each holding every
// secret it can, with %#v's output for each as it was with GoString methods.
func sharpVValues(t *testing.T) []struct {
	name string
	v    any
	want string
} {
	t.Helper()
	mt := httpmock.NewMockTransport()
	opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})}
	client, err := NewClient(testToken, opts...)
	require.NoError(t, err)
	tok := Token{AccessToken: testToken, RefreshToken: canaryRefresh, User: "u1", ClientID: "bot@example.com",
		ExpiresAt: NewTimestamp(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))}
	cfg := RefreshConfig{Token: tok, Options: opts}
	src, err := NewRefreshingTokenSource(cfg)
	require.NoError(t, err)
	pw := canaryPassword
	params := Meta{"url": "https://hooks.example.com/x", "secret": canarySecret}
	var doc Document
	require.NoError(t, doc.UnmarshalJSON([]byte(`{"_id":"d1","params":{"secret":"`+canarySecret+`"},"password":"`+canaryPassword+`"}`)))
	return []struct {
		name string
		v    any
		want string
	}{
		{"*Client", client,
			"chatshipper.Client{BaseURL:https://api.test/v2/ TokenSource:chatshipper.staticToken}"},
		{"StaticTokenSource", StaticTokenSource(testToken),
			"StaticTokenSource{Token:[redacted]}"},
		{"*RefreshingTokenSource", src,
			"RefreshingTokenSource{ClientID:bot@example.com Token:Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]}}"},
		{"Token", tok,
			"Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]}"},
		{"*Token", &tok,
			"Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]}"},
		{"Credentials", Credentials{Email: "jane@example.com", Password: canaryPassword, OTP: canaryOTP},
			"Credentials{Email: jane@example.com Password: [REDACTED] otp=[REDACTED]}"},
		{"RefreshConfig", cfg,
			"RefreshConfig{Token:Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]} ClientID: Leeway:0s OnRefresh:<nil> Options:2}"},
		{"Document", doc,
			"Document{id: d1, fields: [_id params password]}"},
		{"*Document", &doc,
			"Document{id: d1, fields: [_id params password]}"},
		{"UserCreate", UserCreate{Email: "jane@example.com", Password: canaryPassword},
			"UserCreate{GivenName:\"\" FamilyName:\"\" Name:\"\" Email:\"jane@example.com\" Role:\"\" Organization:\"\" Password:[redacted]}"},
		{"UserUpdate", UserUpdate{Password: &pw},
			"UserUpdate{Password:[redacted]}"},
		{"ServiceCreate", ServiceCreate{Type: ServiceWebhook, Params: params},
			"ServiceCreate{Organization:\"\" Name:\"\" Type:\"webhook\" Params:map[secret:[redacted] url:https://hooks.example.com/x]}"},
		{"ServiceUpdate", ServiceUpdate{Params: params},
			"ServiceUpdate{Name:<unset> Status:<unset> Params:map[secret:[redacted] url:https://hooks.example.com/x]}"},
		{"Service", Service{ID: "s1", Type: ServiceWebhook, Params: params},
			"Service{ID:s1 Organization: Name:\"\" Type:\"webhook\" Status:\"\" Params:map[secret:[redacted] url:https://hooks.example.com/x]}"},
		{"WebhookParams", WebhookParams{URL: "https://hooks.example.com/x", Secret: canarySecret},
			"WebhookParams{URL:https://hooks.example.com/x Secret:[redacted] Events:[]}"},
		{"WebhookServiceCreate", WebhookServiceCreate{URL: "https://hooks.example.com/x", Secret: canarySecret},
			"WebhookServiceCreate{Name:\"\" Organization:\"\" URL:https://hooks.example.com/x Secret:[redacted] Events:[]}"},
	}
}
