package chatshipper

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Service is a connector, touchpoint or integration (a webhook is a service
// of type "webhook").
type Service struct {
	ID           string            `json:"id,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	Name         string            `json:"name,omitempty"`
	Type         ServiceType       `json:"type,omitempty"`
	// Params are type-specific (webhook: url, secret, events; smartsupp:
	// jid, password, host, port). They may hold credentials: String, Format
	// and LogValue print them redacted. WebhookParams reads a webhook's.
	Params    Meta          `json:"params,omitempty"`
	Status    ServiceStatus `json:"status,omitempty"`
	Meta      Object        `json:"meta,omitzero"`
	CreatedAt Timestamp     `json:"createdAt,omitzero"`
	UpdatedAt Timestamp     `json:"updatedAt,omitzero"`
}

func (s *Service) refID() string { return s.ID }

// ServiceUpdate is the body of a service PATCH. Params replaces the stored
// params whole: fields left out fall back to their defaults.
//
// Setting Status to ServiceActive makes the platform verify a webhook's URL
// again (ServicesService.Verify does just that); a failed verification is a
// 403. Changing params.url also re-verifies.
type ServiceUpdate struct {
	Name   *string        `json:"name,omitempty"`
	Status *ServiceStatus `json:"status,omitempty"`
	Params Meta           `json:"params,omitzero"`
	Meta   Meta           `json:"meta,omitzero"`
}

// ServiceType is the kind of a service. Other types exist; an unknown value
// survives a decode/encode round trip.
type ServiceType string

// Service types seen in the documentation.
const (
	ServiceWebhook   ServiceType = "webhook"   // params: url, secret, events
	ServiceSmartsupp ServiceType = "smartsupp" // params: jid, password, host, port
	ServiceTwilio    ServiceType = "twilio"    // SMS
)

// ServiceStatus is the verification state of a service.
type ServiceStatus string

// Service statuses seen in the documentation.
const (
	// ServiceUnverified: a webhook whose URL has not answered the challenge yet.
	ServiceUnverified ServiceStatus = "unverified"
	// ServiceActive: verified and in use. PATCHing a service to it re-verifies.
	ServiceActive ServiceStatus = "active"
)

// ServiceCreate is the body that creates a service of any type. Type is
// required; for a webhook, CreateWebhook with a WebhookServiceCreate is the
// typed way. Params may hold credentials and is printed redacted.
type ServiceCreate struct {
	Organization string      `json:"organization,omitempty"`
	Name         string      `json:"name,omitempty"`
	Type         ServiceType `json:"type"`
	Params       Meta        `json:"params,omitempty"`
	Meta         Meta        `json:"meta,omitempty"`
}

func (s *ServiceCreate) validate() error {
	if s.Type == "" {
		return argError("service.type", "is required")
	}
	if err := checkOptionalID("service.organization", s.Organization); err != nil {
		return err
	}
	if s.Type == ServiceWebhook {
		u, _ := s.Params["url"].(string)
		if err := checkWebhookURL("service.params.url", u); err != nil {
			return err
		}
		if ev, ok := s.Params["events"]; ok {
			events, err := eventList(ev)
			if err != nil {
				return err
			}
			return checkWebhookEvents("service.params.events", events)
		}
	}
	return nil
}

// String describes the service to create with credentials in params redacted.
func (s ServiceCreate) String() string {
	return fmt.Sprintf("ServiceCreate{Organization:%q Name:%q Type:%q Params:%v}",
		s.Organization, s.Name, s.Type, redactParams(s.Params))
}

// LogValue keeps params out of slog output.
func (s ServiceCreate) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("type", string(s.Type)),
		slog.String("organization", s.Organization))
}

// String describes the update with credentials in params redacted.
func (u ServiceUpdate) String() string {
	name, status := "<unset>", "<unset>"
	if u.Name != nil {
		name = fmt.Sprintf("%q", *u.Name)
	}
	if u.Status != nil {
		status = fmt.Sprintf("%q", *u.Status)
	}
	return fmt.Sprintf("ServiceUpdate{Name:%s Status:%s Params:%v}", name, status, redactParams(u.Params))
}

// LogValue keeps params out of slog output.
func (u ServiceUpdate) LogValue() slog.Value { return slog.StringValue(u.String()) }

// String describes the service with credentials in params redacted.
func (s Service) String() string {
	return fmt.Sprintf("Service{ID:%s Organization:%s Name:%q Type:%q Status:%q Params:%v}",
		s.ID, s.Organization.ID, s.Name, s.Type, s.Status, redactParams(s.Params))
}

// LogValue keeps params out of slog output.
func (s Service) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("name", s.Name),
		slog.String("type", string(s.Type)), slog.String("status", string(s.Status)))
}

// WebhookParams is the typed view of a webhook service's params. Secret is the
// HMAC key of the X-Hub-Signature header; the platform generates one when none
// is given. String, Format and LogValue redact the secret and the
// credentials a URL may carry: a user info password (the documentation
// suggests basic auth credentials there) and credential query parameters
// such as ?token= or ?access_token=.
type WebhookParams struct {
	// URL receives the events (and the verification challenge).
	URL string
	// Secret keys the HMAC-SHA1 signature of every delivery.
	Secret string
	// Events restricts the events delivered; empty means all events of the
	// organization and its sub-organizations. "*" stands for one whole
	// dot-separated word ("message.create.contact.*").
	Events []string
}

// WebhookParams reads the params of a webhook service. ok is false when the
// service is not of type webhook. Unknown params are ignored.
func (s *Service) WebhookParams() (p WebhookParams, ok bool) {
	if s.Type != ServiceWebhook {
		return WebhookParams{}, false
	}
	p.URL, _ = s.Params["url"].(string)
	p.Secret, _ = s.Params["secret"].(string)
	if ev, ok := s.Params["events"]; ok {
		p.Events, _ = eventList(ev)
	}
	return p, true
}

// Params returns p as service params, for a ServiceUpdate (which replaces the
// params whole: a secret left out would be lost or regenerated).
func (p WebhookParams) Params() Meta {
	m := Meta{"url": p.URL}
	if p.Secret != "" {
		m["secret"] = p.Secret
	}
	if p.Events != nil {
		m["events"] = append([]string(nil), p.Events...)
	}
	return m
}

// String shows the URL (without a password) and events; never the secret.
func (p WebhookParams) String() string {
	return fmt.Sprintf("WebhookParams{URL:%s Secret:%s Events:%q}", redactURLString(p.URL), redactedIfSet(p.Secret), p.Events)
}

// LogValue keeps the secret out of slog output.
func (p WebhookParams) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", redactURLString(p.URL)), slog.Any("events", p.Events))
}

// WebhookServiceCreate is the body of CreateWebhook: a service of type
// webhook. URL is required (http or https, absolute); Secret and Events are
// optional. The secret never appears in String, Format, LogValue or errors.
type WebhookServiceCreate struct {
	// Name labels the service in the admin UI.
	Name string
	// Organization owns the webhook ("" for the token's organization); it
	// receives the events of this organization and its sub-organizations.
	Organization string
	// URL receives the events; basic auth credentials in it are allowed.
	URL string
	// Secret keys the X-Hub-Signature HMAC; "" lets the platform generate one.
	Secret string
	// Events restricts the events delivered ("message.create.contact.*");
	// empty means all. "*" stands for one whole word; the platform has no
	// "**" (the webhook package's handler patterns do), so "message.**" is
	// refused: list each depth or leave Events empty.
	Events []string
	// Meta is the service's free-form metadata.
	Meta Meta
}

func (w *WebhookServiceCreate) validate() error {
	if err := checkOptionalID("webhook.organization", w.Organization); err != nil {
		return err
	}
	if err := checkWebhookURL("webhook.url", w.URL); err != nil {
		return err
	}
	return checkWebhookEvents("webhook.events", w.Events)
}

func (w *WebhookServiceCreate) serviceCreate() *ServiceCreate {
	return &ServiceCreate{
		Organization: w.Organization,
		Name:         w.Name,
		Type:         ServiceWebhook,
		Params:       WebhookParams{URL: w.URL, Secret: w.Secret, Events: w.Events}.Params(),
		Meta:         w.Meta,
	}
}

// String shows the webhook to create; never the secret.
func (w WebhookServiceCreate) String() string {
	return fmt.Sprintf("WebhookServiceCreate{Name:%q Organization:%q URL:%s Secret:%s Events:%q}",
		w.Name, w.Organization, redactURLString(w.URL), redactedIfSet(w.Secret), w.Events)
}

// LogValue keeps the secret out of slog output.
func (w WebhookServiceCreate) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", w.Name), slog.String("url", redactURLString(w.URL)),
		slog.Any("events", w.Events))
}

// checkWebhookURL refuses a URL the platform could not call. The URL is never
// quoted: it may carry basic auth credentials.
func checkWebhookURL(name, raw string) error {
	if raw == "" {
		return argError(name, "is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return argError(name, "is not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return argError(name, "must be an http(s) URL")
	}
	if u.Host == "" {
		return argError(name, "must be absolute with a host")
	}
	if u.Fragment != "" {
		return argError(name, "must not have a fragment")
	}
	return nil
}

// checkWebhookEvents refuses a subscription pattern the platform's matcher
// cannot mean: empty words, white space, or "*" inside a word (it stands for
// exactly one whole dot-separated word). A "**" word, which the webhook
// package's Handler.Handle takes for any number of words, is refused with
// that explanation: the platform's filter has no such wildcard.
func checkWebhookEvents(name string, events []string) error {
	for i, ev := range events {
		n := fmt.Sprintf("%s[%d]", name, i)
		if ev == "" {
			return argError(n, "must not be empty")
		}
		if strings.ContainsFunc(ev, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return argError(n, "%s contains white space or control characters", quoteQueryValue(ev))
		}
		for w := range strings.SplitSeq(ev, ".") {
			if w == "" {
				return argError(n, "%s has an empty word", quoteQueryValue(ev))
			}
			if w == "**" {
				return argError(n, "%s: the platform's event filter takes \"*\" for one whole word only; "+
					"\"**\" (any number of words) is a pattern of the webhook package's Handler.Handle, not of the platform's subscription: "+
					"leave Events empty or list each depth (%s, %s, ...) and match %s in the handler",
					quoteQueryValue(ev), quoteQueryValue(starDepth(ev, "*")), quoteQueryValue(starDepth(ev, "*.*")), quoteQueryValue(ev))
			}
			if w != "*" && strings.Contains(w, "*") {
				return argError(n, "%s: \"*\" must be a whole word (it stands for exactly one word)", quoteQueryValue(ev))
			}
		}
	}
	return nil
}

// starDepth replaces the first "**" word of pattern with words ("*" or
// "*.*"): the platform filters that cover one and two words of it.
func starDepth(pattern, words string) string {
	ws := strings.Split(pattern, ".")
	for i, w := range ws {
		if w == "**" {
			ws[i] = words
			break
		}
	}
	return strings.Join(ws, ".")
}

// eventList reads params.events as decoded JSON ([]any) or as set in Go
// ([]string).
func eventList(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, argError(fmt.Sprintf("params.events[%d]", i), "must be a string")
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, argError("params.events", "must be a list of strings")
}

// CreateWebhook creates a webhook: a service of type webhook whose params are
// the URL, the optional secret (generated by the platform when empty) and
// the optional event patterns. The platform then sends GET
// <url>?type=subscribe&challenge=... and the service stays unverified until
// the URL echoes the challenge. The body is validated before any I/O; the
// secret never appears in an error.
//
// POST /v2/services
func (s *ServicesService) CreateWebhook(ctx context.Context, w *WebhookServiceCreate) (*Service, *Response, error) {
	if w == nil {
		return nil, nil, argError("webhook", "must not be nil")
	}
	if err := w.validate(); err != nil {
		return nil, nil, err
	}
	return s.Create(ctx, w.serviceCreate())
}

// Verify asks the platform to verify a webhook's URL again by setting the
// service's status to active. The platform answers 403 (errors.Is
// ErrForbidden) when the URL does not echo the challenge.
//
// PATCH /v2/services/{id} {"status":"active"}
func (s *ServicesService) Verify(ctx context.Context, id string) (*Service, *Response, error) {
	active := ServiceActive
	return s.Update(ctx, id, &ServiceUpdate{Status: &active})
}

// Format makes every verb print String, so a webhook secret in Params never shows.
func (s ServiceCreate) Format(f fmt.State, verb rune) { printRedacted(f, verb, s.String()) }

// Format makes every verb print String, so a webhook secret in Params never shows.
func (u ServiceUpdate) Format(f fmt.State, verb rune) { printRedacted(f, verb, u.String()) }

// Format makes every verb print String, so a webhook secret in Params never shows.
func (s Service) Format(f fmt.State, verb rune) { printRedacted(f, verb, s.String()) }

// Format makes every verb print String, so the secret never shows.
func (p WebhookParams) Format(f fmt.State, verb rune) { printRedacted(f, verb, p.String()) }

// Format makes every verb print String, so the secret never shows.
func (w WebhookServiceCreate) Format(f fmt.State, verb rune) { printRedacted(f, verb, w.String()) }
