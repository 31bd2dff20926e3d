package chatshipper

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A "**" in a webhook's event filter is refused with an error that says
// why: the platform's filter knows "*" for one word only, "**" is a pattern
// of the webhook package's handler. A "*" inside a word keeps its own reason.
func TestWebhookEventsDoubleStarExplained(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	for _, tc := range []struct {
		name, event, want string
	}{
		{"double star", "message.**",
			`chatshipper: invalid argument webhook.events[0]: "message.**": the platform's event filter takes "*" for one whole word only; ` +
				`"**" (any number of words) is a pattern of the webhook package's Handler.Handle, not of the platform's subscription: ` +
				`leave Events empty or list each depth ("message.*", "message.*.*", ...) and match "message.**" in the handler`},
		{"double star first", "**.update",
			`chatshipper: invalid argument webhook.events[0]: "**.update": the platform's event filter takes "*" for one whole word only; ` +
				`"**" (any number of words) is a pattern of the webhook package's Handler.Handle, not of the platform's subscription: ` +
				`leave Events empty or list each depth ("*.update", "*.*.update", ...) and match "**.update" in the handler`},
		{"star in word", "mess*.create",
			`chatshipper: invalid argument webhook.events[0]: "mess*.create": "*" must be a whole word (it stands for exactly one word)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Services.CreateWebhook(context.Background(), &WebhookServiceCreate{URL: "https://hooks.example.com/in", Events: []string{tc.event}})
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.EqualError(t, err, tc.want)
			// The untyped create refuses it the same way.
			_, _, err = c.Services.Create(context.Background(), &ServiceCreate{Type: ServiceWebhook,
				Params: Meta{"url": "https://hooks.example.com/in", "events": []any{tc.event}}})
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tc.want[len("chatshipper: invalid argument webhook.events[0]"):])
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

// A webhook URL's credentials (a token query value, a user info password, a
// user name alone) never print: not with any fmt verb, not in slog's JSON or
// text output, for every webhook type.
func TestWebhookURLCredentialsNeverPrinted(t *testing.T) {
	t.Parallel()
	const (
		tokenCanary  = "qtok-CANARY-81d0"
		accessCanary = "qacc-CANARY-3f2e"
		keyCanary    = "qkey-CANARY-77b1"
		passCanary   = "upw-CANARY-6a5c"
		userCanary   = "utok-CANARY-c4d9"
	)
	urls := []string{
		"https://hooks.example.com/in?token=" + tokenCanary + "&source=chatshipper",
		"https://bob:" + passCanary + "@hooks.example.com/in?access_token=" + accessCanary,
		"https://" + userCanary + "@hooks.example.com/in?apiKey=" + keyCanary + "&x=1",
	}
	canaries := []string{tokenCanary, accessCanary, keyCanary, passCanary, userCanary}
	for i, u := range urls {
		p := WebhookParams{URL: u, Secret: webhookSec, Events: []string{"message.*"}}
		w := WebhookServiceCreate{Name: "n", URL: u, Secret: webhookSec}
		svc := Service{ID: resOrgID, Type: ServiceWebhook, Params: Meta{"url": u, "secret": webhookSec,
			"nested": map[string]any{"callbacks": []any{"see " + u + " for details"}}}}
		sc := *w.serviceCreate()
		su := ServiceUpdate{Params: p.Params()}
		values := []any{p, &p, w, &w, svc, &svc, sc, &sc, su, &su}
		var outputs []string
		for _, v := range values {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
				outputs = append(outputs, fmt.Sprintf(verb, v))
			}
			outputs = append(outputs, fmt.Sprint(v))
			for _, h := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			} {
				var buf bytes.Buffer
				slog.New(h(&buf)).Info("webhook", "v", v)
				outputs = append(outputs, buf.String())
			}
		}
		for _, out := range outputs {
			for _, c := range append(canaries, webhookSec) {
				assert.NotContains(t, out, c, "url %d", i)
			}
		}
	}
	// What is not a credential stays readable.
	assert.Equal(t, `WebhookParams{URL:https://hooks.example.com/in?token=redacted&source=chatshipper Secret:"" Events:[]}`,
		WebhookParams{URL: urls[0]}.String())
	assert.Equal(t, `WebhookParams{URL:https://bob:redacted@hooks.example.com/in?access_token=redacted Secret:"" Events:[]}`,
		WebhookParams{URL: urls[1]}.String())
	assert.Equal(t, `WebhookParams{URL:https://redacted@hooks.example.com/in?apiKey=redacted&x=1 Secret:"" Events:[]}`,
		WebhookParams{URL: urls[2]}.String())
	assert.Equal(t, `WebhookParams{URL:https://hooks.example.com/in?page=2&id=5 Secret:"" Events:[]}`,
		WebhookParams{URL: "https://hooks.example.com/in?page=2&id=5"}.String())
}
