package otel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Canaries: secret and personal values the suite below sends through every
// path the observer sees. None may appear in a span name, a span or event
// attribute, a status description or a metric label.
const (
	canaryEmail   = "canary.person@example.com"
	canaryPhone   = "+31612345678"
	canaryText    = "CANARY-MESSAGE-TEXT-7f3a"
	canaryServer  = "CANARY-SERVER-ECHO-91bd"
	canarySecret  = "whsec-CANARY-SECRET-22c4"
	canaryHandler = "CANARY-HANDLER-ERROR-0d5e"
)

// TestNoSecretsInTelemetry runs sends, lookups, re-sends, a refused and a
// failing call, a login, contact searches by e-mail and telephone, a loop
// guard refusal and webhook deliveries (good, bad, duplicate, failing), and
// checks every span, event and metric label for the canaries, the token, the
// password and the e-mail address of the login.
func TestNoSecretsInTelemetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		h := newHarness(t)
		ctx := context.Background()

		// A login: the e-mail address and password go in the body, the
		// token comes back in the answer.
		tok, err := chatshipper.Login(ctx, chatshipper.Credentials{Email: srv.Seed.BotEmail, Password: srv.Seed.BotPassword},
			chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(srv.Client()), chatshipper.WithObserver(h.obs))
		require.NoError(t, err)
		c := h.client(t, srv)

		contact, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{
			Name: "Canary Person", Email: canaryEmail, Telephone: canaryPhone}})
		require.NoError(t, err)
		found, _, err := c.Contacts.FindByTelephone(ctx, canaryPhone, "")
		require.NoError(t, err)
		require.Len(t, found, 1)
		_, _, err = c.Contacts.List(ctx, chatshipper.NewQuery().Where("profile.email", chatshipper.Eq(canaryEmail)))
		require.NoError(t, err)
		// Free text in a filter: a message text searched for, a name, a meta value.
		_, _, err = c.Messages.List(ctx, chatshipper.NewQuery().Where("type", chatshipper.Eq("chat")).Where("text", chatshipper.Regex(canaryText)))
		require.NoError(t, err)
		_, _, err = c.Contacts.List(ctx, chatshipper.NewQuery().Where("name", chatshipper.Eq(canaryText)).
			Where("meta.note", chatshipper.Eq(canaryText)))
		require.NoError(t, err)

		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "canary",
			Messages: []chatshipper.MessageInput{chatshipper.Chat(canaryText)}})
		require.NoError(t, err)
		for _, drop := range []chatshippertest.DropMode{chatshippertest.DropAfter, chatshippertest.DropBefore} {
			srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: drop})
			_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat(canaryText+" to "+canaryEmail))
			require.NoError(t, err)
		}
		// An error answer echoing personal data, and a lookup that fails.
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1,
			Status: 400, Message: canaryServer + " " + canaryEmail})
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat(canaryText))
		require.Error(t, err)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: chatshippertest.DropAfter})
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Count: 1, Status: 503,
			Message: canaryServer, RetryAfter: "1"})
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Count: 1, Status: 500, Message: canaryServer})
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat(canaryText))
		require.ErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
		// The loop guard refuses the ninth identical message.
		for i := range 9 {
			_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat(canaryText+" again"))
			if i == 8 {
				require.ErrorIs(t, err, chatshipper.ErrLoopLimit)
			}
		}
		for _, err := range c.Messages.ListIter(ctx, chatshipper.NewQuery().Where("conversation", chatshipper.Eq(conv.ID)).Limit(3)) {
			require.NoError(t, err)
		}
		_, _, err = c.Contacts.Update(ctx, contact.ID, &chatshipper.ContactUpdate{Profile: &chatshipper.ContactProfile{Email: canaryEmail}})
		require.NoError(t, err)

		// Webhook deliveries carrying the canaries, with the canary secret.
		wh, err := webhook.NewHandler(webhook.WithSecret(canarySecret), webhook.WithObserver(h.obs))
		require.NoError(t, err)
		require.NoError(t, wh.Handle("message.create.**", func(ctx context.Context, e *webhook.Event) error {
			if strings.Contains(e.Data.Message.Text, "fail") {
				return fmt.Errorf("%s %s", canaryHandler, e.Data.Message.Text)
			}
			_, _, err := c.Users.Get(ctx, srv.Seed.BotUserID, nil)
			return err
		}))
		deliver := func(id, text, secret string) {
			body, err := json.Marshal(map[string]any{"id": id, "event": "message.create.contact.chat", "timestamp": "2024-03-14T09:26:53.589Z",
				"data": map[string]any{
					"conversation": map[string]any{"id": conv.ID, "type": "contact", "name": canaryEmail},
					"message": map[string]any{"id": "65f2c2a5e4b0a1b2c3d4e5f6", "conversation": conv.ID, "role": "contact",
						"type": "chat", "text": text},
					"contact": map[string]any{"profile": map[string]any{"email": canaryEmail, "telephone": canaryPhone}},
				}})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, "/hook?email="+url.QueryEscape(canaryEmail), bytes.NewReader(body))
			r.Header.Set(webhook.SignatureHeader, webhook.Sign(body, secret))
			wh.ServeHTTP(httptest.NewRecorder(), r)
		}
		deliver("ev-1", canaryText, canarySecret)
		deliver("ev-1", canaryText, canarySecret) // duplicate
		deliver("ev-2", canaryText+" fail", canarySecret)
		deliver("ev-3", canaryText, "wrong secret")

		// The suite reached every kind of report.
		rm := h.collect(t)
		for _, m := range []string{"http.client.request.duration", "chatshipper.client.call.duration", "chatshipper.client.retries",
			"chatshipper.client.limiter.wait", "chatshipper.client.loop_guard.refusals", "chatshipper.client.delivery.lookups",
			"chatshipper.client.delivery.resends", "chatshipper.client.delivery.unknown", "chatshipper.webhook.events",
			"chatshipper.webhook.handler.duration"} {
			_, ok := findMetric(rm, m)
			assert.True(t, ok, "metric %s recorded", m)
		}
		// The canaries were in the requests' URLs (and so had to be redacted).
		inQuery := map[string]bool{}
		for _, r := range srv.Requests() {
			inQuery[r.Query.Get("profile.telephone")] = true
			inQuery[r.Query.Get("profile.email")] = true
		}
		assert.True(t, inQuery[canaryPhone] && inQuery[canaryEmail], "searched by telephone and e-mail")

		canaries := []string{canaryEmail, canaryPhone, canaryText, canaryServer, canarySecret, canaryHandler,
			srv.Token, srv.Seed.BotEmail, srv.Seed.BotPassword, tok.AccessToken, tok.RefreshToken}
		canaries = append(canaries, strings.Split(srv.Token, ".")...) // each part of the JWT
		var leaks []string
		check := func(where, s string) {
			low := strings.ToLower(s)
			for _, c := range canaries {
				if len(c) < 8 {
					continue
				}
				for _, form := range []string{c, url.QueryEscape(c), url.PathEscape(c), strings.TrimPrefix(c, "+")} {
					if strings.Contains(low, strings.ToLower(form)) {
						leaks = append(leaks, fmt.Sprintf("%s: %q holds %q", where, s, c))
					}
				}
			}
		}
		checkAttrs := func(where string, attrs []attribute.KeyValue) {
			for _, kv := range attrs {
				check(where+" "+string(kv.Key), string(kv.Key))
				check(where+" "+string(kv.Key), kv.Value.String())
			}
		}
		spans := h.spans.Ended()
		require.NotEmpty(t, spans)
		urls := 0
		for _, s := range spans {
			check("span name", s.Name())
			check("span status", s.Status().Description)
			checkAttrs("span "+s.Name(), s.Attributes())
			for _, e := range s.Events() {
				check("event name", e.Name)
				checkAttrs("event "+e.Name, e.Attributes)
			}
			if attr(s.Attributes(), "url.full").AsString() != "" {
				urls++
			}
		}
		assert.Greater(t, urls, 10, "the attempts carry their URLs")
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				check("metric name", m.Name)
				var sets []attribute.Set
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					for _, p := range d.DataPoints {
						sets = append(sets, p.Attributes)
					}
				case metricdata.Histogram[float64]:
					for _, p := range d.DataPoints {
						sets = append(sets, p.Attributes)
					}
				default:
					t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
				}
				for _, set := range sets {
					checkAttrs("metric "+m.Name, set.ToSlice())
					for _, kv := range set.ToSlice() {
						assert.NotContains(t, []attribute.Key{"chatshipper.conversation.id", "chatshipper.webhook.event_id",
							"chatshipper.webhook.event", "url.full"}, kv.Key, "no IDs, URLs or names in metric labels")
					}
				}
			}
		}
		assert.Empty(t, leaks)
	})
}
