package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServicesCreateWebhook(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got seen
	mt.RegisterResponder("POST", testBase+"services", answer(&got, 201, string(readFixture(t, "resources/service_webhook.json"))))
	w := &WebhookServiceCreate{Name: "CRM events", Organization: resOrgID, URL: "https://hooks.example.com/chatshipper",
		Secret: webhookSec, Events: []string{"message.create.contact.*", "conversation.update"}}
	svc, resp, err := c.Services.CreateWebhook(context.Background(), w)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "POST", got.method)
	assert.Equal(t, "/v2/services", got.path)
	assert.Empty(t, got.rawQuery)
	assert.JSONEq(t, string(readFixture(t, "resources/webhook_create_request.json")), string(got.body))
	assert.Equal(t, ServiceUnverified, svc.Status)

	p, ok := svc.WebhookParams()
	require.True(t, ok)
	assert.Equal(t, WebhookParams{URL: "https://hooks.example.com/chatshipper", Secret: webhookSec,
		Events: []string{"message.create.contact.*", "conversation.update"}}, p)

	// Secret and events are optional; without them params hold only the URL.
	_, _, err = c.Services.CreateWebhook(context.Background(), &WebhookServiceCreate{URL: "https://hooks.example.com/x"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"webhook","params":{"url":"https://hooks.example.com/x"}}`, string(got.body))
}

func TestServicesVerify(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got seen
	id := "5c1a3932dd2ec870ce85bd30"
	mt.RegisterResponder("PATCH", testBase+"services/"+id, answer(&got, 200, `{"id":"`+id+`","type":"webhook","status":"active"}`))
	svc, _, err := c.Services.Verify(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, ServiceActive, svc.Status)
	assert.Equal(t, "PATCH", got.method)
	assert.Equal(t, "/v2/services/"+id, got.path)
	assert.JSONEq(t, `{"status":"active"}`, string(got.body))

	// A URL that does not echo the challenge: 403.
	mt.RegisterResponder("PATCH", testBase+"services/"+id, httpmock.NewStringResponder(403, `{"error":{"message":"Verification failed"}}`))
	_, _, err = c.Services.Verify(context.Background(), id)
	assert.ErrorIs(t, err, ErrForbidden)
}

func TestWebhookValidationRefusesBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	const credURL = "https://bob:pa55-CANARY@hooks.example.com/in"
	for _, tc := range []struct {
		name string
		w    WebhookServiceCreate
		arg  string
	}{
		{"no url", WebhookServiceCreate{Secret: webhookSec}, "webhook.url"},
		{"relative url", WebhookServiceCreate{URL: "/hooks", Secret: webhookSec}, "webhook.url"},
		{"ftp url", WebhookServiceCreate{URL: "ftp://bob:pa55-CANARY@hooks.example.com/", Secret: webhookSec}, "webhook.url"},
		{"no host", WebhookServiceCreate{URL: "https:///path", Secret: webhookSec}, "webhook.url"},
		{"fragment", WebhookServiceCreate{URL: credURL + "#frag", Secret: webhookSec}, "webhook.url"},
		{"unparsable", WebhookServiceCreate{URL: "https://bob:pa55-CANARY@host:port/\x7f", Secret: webhookSec}, "webhook.url"},
		{"bad org", WebhookServiceCreate{URL: credURL, Organization: "acme", Secret: webhookSec}, "webhook.organization"},
		{"empty event", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{""}}, "webhook.events[0]"},
		{"empty word", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{"message.*", "message."}}, "webhook.events[1]"},
		{"star in word", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{"mess*.create"}}, "webhook.events[0]"},
		{"white space", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{"message. create"}}, "webhook.events[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Services.CreateWebhook(context.Background(), &tc.w)
			require.ErrorIs(t, err, ErrInvalidArgument)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.arg, ae.Name)
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assert.NotContains(t, s, webhookSec)
				assert.NotContains(t, s, "pa55-CANARY")
			}
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestWebhookSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const credURL = "https://bob:pa55-CANARY@hooks.example.com/in"
	w := WebhookServiceCreate{Name: "n", URL: credURL, Secret: webhookSec, Events: []string{"message.*"}}
	p := WebhookParams{URL: credURL, Secret: webhookSec, Events: []string{"message.*"}}
	svc := decodeFixture[Service](t, "resources/service_webhook.json")
	svc.Params["url"] = credURL
	svc.Params["nested"] = map[string]any{"apiKey": "key-CANARY", "list": []any{map[string]any{"password": "pw-CANARY-2"}}}
	sc := *w.serviceCreate()
	su := ServiceUpdate{Params: p.Params()}
	smartsupp := decodeFixture[Service](t, "spec/service_record.json")

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("webhook", "create", w, "params", p, "service", svc, "sc", sc, "su", su)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("webhook", "create", w, "params", p, "service", svc, "sc", sc, "su", su)
	var outputs []string
	for _, v := range []any{w, &w, p, &p, svc, &svc, sc, &sc, su, &su, smartsupp} {
		outputs = append(outputs, fmt.Sprint(v), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v))
	}
	outputs = append(outputs, logs.String())
	for _, s := range outputs {
		for _, secret := range []string{webhookSec, "pa55-CANARY", "key-CANARY", "pw-CANARY-2", "z3kR3t"} {
			assert.NotContains(t, s, secret)
		}
	}
	assert.Equal(t, `WebhookParams{URL:https://bob:redacted@hooks.example.com/in Secret:[redacted] Events:["message.*"]}`, p.String())
	assert.Equal(t, `WebhookParams{URL:"" Secret:"" Events:[]}`, WebhookParams{}.String())
	assert.Contains(t, smartsupp.String(), "jid:uid3710@s1.smartsupp.com", "non-secret params stay readable")
	assert.Contains(t, smartsupp.String(), "password:[redacted]")

	// The JSON sent to the API keeps the secret, of course.
	b, err := json.Marshal(sc)
	require.NoError(t, err)
	assert.Contains(t, string(b), webhookSec)
}

func TestWebhookParamsView(t *testing.T) {
	t.Parallel()
	_, ok := (&Service{Type: ServiceSmartsupp, Params: Meta{"url": "x"}}).WebhookParams()
	assert.False(t, ok, "not a webhook")
	p, ok := (&Service{Type: ServiceWebhook, Params: Meta{"url": "https://h.example/x", "events": 3.0}}).WebhookParams()
	assert.True(t, ok)
	assert.Equal(t, WebhookParams{URL: "https://h.example/x"}, p, "malformed events are ignored")
	p.Events = []string{"form.*"}
	assert.Equal(t, Meta{"url": "https://h.example/x", "events": []string{"form.*"}}, p.Params())
	p.Secret = "s"
	b, err := json.Marshal(ServiceUpdate{Params: p.Params()})
	require.NoError(t, err)
	assert.JSONEq(t, `{"params":{"url":"https://h.example/x","secret":"s","events":["form.*"]}}`, string(b))
}

func TestFixtureResourceWebhookService(t *testing.T) {
	t.Parallel()
	s := decodeFixture[Service](t, "resources/service_webhook.json")
	assert.Equal(t, Service{
		ID:           "5c1a3932dd2ec870ce85bd30",
		Organization: NewRef[Organization](resOrgID),
		Name:         "CRM events",
		Type:         ServiceWebhook,
		Params: Meta{"url": "https://hooks.example.com/chatshipper", "secret": webhookSec,
			"events": []any{"message.create.contact.*", "conversation.update"}},
		Status:    ServiceUnverified,
		CreatedAt: ts("2019-06-01T12:00:00.000Z"),
		UpdatedAt: ts("2019-06-01T12:00:00.000Z"),
	}, s)
	create := decodeFixture[ServiceCreate](t, "resources/webhook_create_request.json")
	assert.Equal(t, ServiceCreate{Organization: resOrgID, Name: "CRM events", Type: ServiceWebhook,
		Params: Meta{"url": "https://hooks.example.com/chatshipper", "secret": webhookSec,
			"events": []any{"message.create.contact.*", "conversation.update"}}}, create)
	require.NoError(t, create.validate(), "the fixture body passes the client's own checks")
}

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
