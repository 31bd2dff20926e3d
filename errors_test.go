package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	all := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrUnprocessable, ErrRateLimited, ErrServer}
	tests := []struct {
		status  int
		body    string
		want    error
		wantMsg string
	}{
		{400, `{"message":"Invalid parameter limit"}`, ErrBadRequest, "Invalid parameter limit"},
		{401, `{"error":{"message":"jwt expired"}}`, ErrUnauthorized, "jwt expired"},
		{403, `{"error":{"message":"Permission denied"}}`, ErrForbidden, "Permission denied"},
		{404, `{"error":{"message":"Conversation not found"}}`, ErrNotFound, "Conversation not found"},
		{422, `{"message":"text is required"}`, ErrUnprocessable, "text is required"},
		{500, `<html>Internal Server Error</html>`, ErrServer, ""},
		{503, ``, ErrServer, ""},
		{400, `{"error":"plain string error"}`, ErrBadRequest, "plain string error"},
		{400, `{"error":{"code":12}}`, ErrBadRequest, ""},
		{404, `not json at all`, ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+"/"+tt.body, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t, WithMaxRetries(0))
			mt.RegisterResponder("GET", testBase+"users/5bb0277fd99faf11a3f4a37e", httpmock.NewStringResponder(tt.status, tt.body))
			req, _ := c.NewRequest(context.Background(), "GET", "users/5bb0277fd99faf11a3f4a37e", nil)
			resp, err := c.Do(req, nil)
			require.Error(t, err)
			require.NotNil(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			var er *ErrorResponse
			require.ErrorAs(t, err, &er)
			assert.Equal(t, tt.status, er.StatusCode)
			assert.Equal(t, tt.wantMsg, er.Message)
			assert.Equal(t, tt.body, string(er.Body))
			assert.Equal(t, "GET", er.Method)
			assert.Equal(t, testBase+"users/5bb0277fd99faf11a3f4a37e", er.URL)
			for _, s := range all {
				assert.Equal(t, s == tt.want, errors.Is(err, s), "errors.Is(%v)", s)
			}
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestErrorBodyCapped(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithMaxRetries(0))
	huge := `{"message":"` + strings.Repeat("x", 3<<20) + `"}`
	mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(400, huge))
	req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
	_, err := c.Do(req, nil)
	var er *ErrorResponse
	require.ErrorAs(t, err, &er)
	assert.Len(t, er.Body, maxErrorBody)
	assert.Equal(t, "", er.Message, "a truncated body is not valid JSON")
}

func TestErrorStrings(t *testing.T) {
	t.Parallel()
	er := &ErrorResponse{StatusCode: 404, Message: "Conversation not found", Method: "GET", URL: testBase + "conversations/x"}
	assert.Equal(t, "chatshipper: GET "+testBase+"conversations/x: 404 Conversation not found", er.Error())
	er.Message = ""
	assert.Equal(t, "chatshipper: GET "+testBase+"conversations/x: 404 Not Found", er.Error())
	ae := &ArgumentError{Name: "conversationID", Reason: "must not be empty"}
	assert.Equal(t, "chatshipper: invalid argument conversationID: must not be empty", ae.Error())
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	assert.NoError(t, checkID("id", "5bb0277fd99faf11a3f4a37e"))
	assert.NoError(t, checkID("id", "5BB0277FD99FAF11A3F4A37E"))
	for _, bad := range []string{"", "5bb0277fd99faf11a3f4a37", "5bb0277fd99faf11a3f4a37e0", "5bb0277fd99faf11a3f4a37g", "../../../etc/passwd00000", "5bb0277fd99faf11a3f4a3/e"} {
		err := checkID("conversationID", bad)
		require.Error(t, err, bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Contains(t, err.Error(), "conversationID")
	}
}

// echoResponder answers like a server whose validation errors quote the
// values they refuse (mongoose: "Path `password` (`hunter2`) is shorter than
// the minimum allowed length"): its message quotes every value of the JSON
// request body and the Authorization header, in the body shape given by
// nested ({"error":{"message":...}} or {"message":...}).
func echoResponder(status int, nested bool) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		var parts []string
		if a := req.Header.Get("Authorization"); a != "" {
			parts = append(parts, "header `Authorization` (`"+a+"`) is invalid")
		}
		if req.Body != nil {
			var body any
			d := json.NewDecoder(req.Body)
			d.UseNumber()
			_ = d.Decode(&body)
			var walk func(path string, v any)
			walk = func(path string, v any) {
				switch x := v.(type) {
				case map[string]any:
					keys := make([]string, 0, len(x))
					for k := range x {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						walk(strings.TrimPrefix(path+"."+k, "."), x[k])
					}
				case []any:
					for i, e := range x {
						walk(fmt.Sprintf("%s.%d", path, i), e)
					}
				default:
					parts = append(parts, fmt.Sprintf("%s: Path `%s` (`%v`) is invalid", path, path, x))
				}
			}
			walk("", body)
		}
		msg := "Validation failed: " + strings.Join(parts, ", ")
		var b []byte
		if nested {
			b, _ = json.Marshal(map[string]any{"error": map[string]any{"message": msg, "status": status}})
		} else {
			b, _ = json.Marshal(map[string]any{"message": msg, "name": "ValidationError"})
		}
		resp := httpmock.NewBytesResponse(status, b)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	}
}

// A server message quoting what the request carried never brings a secret
// into an error: the bearer token, a password, a one-time code, a refresh
// token, a webhook secret and the credentials of a webhook URL are replaced
// in Error(), the Message field, the raw Body and the log, for every call.
func TestServerMessagesNeverQuoteRequestSecrets(t *testing.T) {
	t.Parallel()
	const (
		pw        = "pw-CANARY-hunter2"
		quotePW   = `pw"CANARY\quote`
		shortPW   = "Zq9"
		otp       = "482913"
		urlPass   = "upw-CANARY-1c2d"
		urlToken  = "qtok-CANARY-5e6f"
		signKey   = "skey-CANARY-0a9b"
		refreshTk = "rt-CANARY-73aa"
	)
	hookURL := "https://bob:" + urlPass + "@hooks.example.com/in?token=" + urlToken + "&source=cs"
	canaries := []string{testToken, pw, quotePW, otp, urlPass, urlToken, signKey, refreshTk, webhookSec}
	type call struct {
		name   string
		nested bool
		status int
		run    func(ctx context.Context, c *Client, opts []Option) error
		keep   []string // what the message still says
	}
	calls := []call{
		{name: "Login", status: 400, run: func(ctx context.Context, _ *Client, opts []Option) error {
			_, err := Login(ctx, Credentials{Email: "jane@example.com", Password: pw, OTP: otp}, opts...)
			return err
		}, keep: []string{"Path `email` (`jane@example.com`) is invalid", "Path `password` (`[redacted]`) is invalid", "Path `otp` (`[redacted]`)"}},
		{name: "Login with a quote", status: 401, nested: true, run: func(ctx context.Context, _ *Client, opts []Option) error {
			_, err := Login(ctx, Credentials{Email: "jane@example.com", Password: quotePW}, opts...)
			return err
		}, keep: []string{"Path `password` (`[redacted]`)"}},
		{name: "Login with a short password", status: 400, run: func(ctx context.Context, _ *Client, opts []Option) error {
			_, err := Login(ctx, Credentials{Email: "jane@example.com", Password: shortPW}, opts...)
			return err
		}, keep: []string{"Path `password` (`[redacted]`)"}},
		{name: "Users.Create", status: 422, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Users.Create(ctx, &UserCreate{GivenName: "Jenny", Email: "jenny@example.com", Password: pw})
			return err
		}, keep: []string{"Path `givenName` (`Jenny`) is invalid", "Path `password` (`[redacted]`)", "(`Bearer [redacted]`)"}},
		{name: "CreateWebhook", status: 400, nested: true, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Services.CreateWebhook(ctx, &WebhookServiceCreate{Name: "CRM", URL: hookURL, Secret: webhookSec,
				Meta: Meta{"signingKey": signKey, "chatshipperDeliveryKey": "k1"}})
			return err
		}, keep: []string{"Path `name` (`CRM`)", "Path `params.secret` (`[redacted]`)", "hooks.example.com/in?token=[redacted]", "(`k1`)"}},
		{name: "401 on a read", status: 401, nested: true, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Conversations.List(ctx, nil)
			return err
		}, keep: []string{"header `Authorization` (`Bearer [redacted]`) is invalid"}},
		{name: "429", status: 429, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Users.Create(ctx, &UserCreate{Email: "jenny@example.com", Password: pw})
			return err
		}, keep: []string{"Path `password` (`[redacted]`)"}},
		{name: "refresh", status: 400, run: func(ctx context.Context, _ *Client, opts []Option) error {
			src, err := NewRefreshingTokenSource(RefreshConfig{Token: Token{AccessToken: testToken, RefreshToken: refreshTk, ClientID: "bot@example.com"}, Options: opts})
			if err != nil {
				return err
			}
			c, err := NewClient("", append(opts, WithTokenSource(src))...)
			if err != nil {
				return err
			}
			_, _, err = c.Conversations.List(ctx, nil)
			return err
		}, keep: []string{"Path `refreshToken` (`[redacted]`)", "Path `clientId` (`bot@example.com`)"}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			mt := httpmock.NewMockTransport()
			opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithLogger(logger), WithMaxRetries(0)}
			c, err := NewClient(testToken, opts...)
			require.NoError(t, err)
			mt.RegisterNoResponder(echoResponder(tc.status, tc.nested))
			if tc.name == "refresh" {
				mt.RegisterResponder("GET", testBase+"conversations", httpmock.NewStringResponder(401, `{"error":{"message":"jwt expired"}}`))
			}
			err = tc.run(context.Background(), c, opts)
			require.Error(t, err)
			var er *ErrorResponse
			require.ErrorAs(t, err, &er)
			slog.New(slog.NewTextHandler(&logs, nil)).Error("failed", "err", err, "er", er)
			slog.New(slog.NewJSONHandler(&logs, nil)).Error("failed", "err", err, "er", er)
			outs := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err),
				er.Message, string(er.Body), fmt.Sprintf("%#v", er), logs.String()}
			for _, out := range outs {
				for _, s := range canaries {
					assert.NotContains(t, out, s)
				}
			}
			// The JSON-escaped form of a secret is gone from the body too.
			escaped, _ := json.Marshal(quotePW)
			assert.NotContains(t, string(er.Body), strings.Trim(string(escaped), `"`))
			for _, k := range tc.keep {
				assert.Contains(t, er.Message, k)
				assert.Contains(t, err.Error(), k)
			}
			assert.True(t, json.Valid(er.Body), "the body stays JSON: %s", er.Body)
		})
	}
}
