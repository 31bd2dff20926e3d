package chatshipper

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
)

// Enums, request bodies and the webhook view of the resources served by the
// typed services in resources.go. Create bodies carry plain ID strings; update
// bodies have pointer fields so that only what is set is sent, and their
// nested objects and arrays replace the stored value whole (PATCH merges top
// level keys only, spec ch1 API basics).

// User roles beyond those of message authors. The provisioning guide names the
// lowest role "viewer" while the matching token scope is "guest"; which one
// appears in a membership's role is [uncertain], so both are defined.
const (
	RoleViewer Role = "viewer" // may read, not act (provisioning guide name)
	RoleGuest  Role = "guest"  // the scope name of the lowest role
)

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

// OrganizationStatus is the state of an organization.
type OrganizationStatus string

// Organization statuses seen in the documentation.
const (
	OrganizationActive OrganizationStatus = "active"
)

// BotStatus is the state of a bot or bot instance.
type BotStatus string

// Bot statuses seen in the official SDK.
const (
	BotActive BotStatus = "active"
)

// validator is implemented by request bodies that can refuse themselves
// before any I/O.
type validator interface{ validate() error }

func checkOptionalID(name, id string) error {
	if id == "" {
		return nil
	}
	return checkID(name, id)
}

// ContactUpdate is the body of a contact PATCH. Only the fields set are sent.
// Profile and Meta replace the stored object whole: send the complete profile
// to change one of its fields.
type ContactUpdate struct {
	Profile *ContactProfile `json:"profile,omitempty"`
	Blocked *bool           `json:"blocked,omitempty"`
	Meta    Meta            `json:"meta,omitzero"`
}

func (c *ContactCreate) validate() error {
	return checkOptionalID("contact.organization", c.Organization)
}

// UserCreate is the body that creates a user (an agent, viewer, admin or bot
// user). Password is never printed: String, GoString and LogValue redact it.
type UserCreate struct {
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	Name       string `json:"name,omitempty"`
	Email      string `json:"email,omitempty"`
	Password   string `json:"password,omitempty"`
	Status     string `json:"status,omitempty"`
	Avatar     string `json:"avatar,omitempty"`
	// Role and Organization are not in the documented create example
	// [uncertain]; they are sent only when set, and a server that does not
	// know them ignores them.
	Role         Role   `json:"role,omitempty"`
	Organization string `json:"organization,omitempty"`
	Meta         Meta   `json:"meta,omitempty"`
}

func (u *UserCreate) validate() error {
	return checkOptionalID("user.organization", u.Organization)
}

// String describes the user to create with the password redacted.
func (u UserCreate) String() string {
	return fmt.Sprintf("UserCreate{GivenName:%q FamilyName:%q Name:%q Email:%q Role:%q Organization:%q Password:%s}",
		u.GivenName, u.FamilyName, u.Name, u.Email, u.Role, u.Organization, redactedIfSet(u.Password))
}

// GoString is String, so %#v does not reveal the password either.
func (u UserCreate) GoString() string { return u.String() }

// LogValue keeps the password out of slog output.
func (u UserCreate) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", u.Email), slog.String("role", string(u.Role)),
		slog.String("organization", u.Organization))
}

// UserUpdate is the body of a user PATCH. Only the fields set are sent; Meta
// replaces the stored meta whole. Password is never printed.
type UserUpdate struct {
	GivenName  *string `json:"givenName,omitempty"`
	FamilyName *string `json:"familyName,omitempty"`
	Name       *string `json:"name,omitempty"`
	Email      *string `json:"email,omitempty"`
	Password   *string `json:"password,omitempty"`
	Status     *string `json:"status,omitempty"`
	Avatar     *string `json:"avatar,omitempty"`
	Meta       Meta    `json:"meta,omitzero"`
}

// String lists the fields set, with the password redacted.
func (u UserUpdate) String() string {
	var set []string
	for name, p := range map[string]*string{"GivenName": u.GivenName, "FamilyName": u.FamilyName, "Name": u.Name,
		"Email": u.Email, "Status": u.Status, "Avatar": u.Avatar} {
		if p != nil {
			set = append(set, fmt.Sprintf("%s:%q", name, *p))
		}
	}
	if u.Password != nil {
		set = append(set, "Password:[redacted]")
	}
	if u.Meta != nil {
		set = append(set, fmt.Sprintf("Meta:%v", u.Meta))
	}
	sort.Strings(set)
	return "UserUpdate{" + strings.Join(set, " ") + "}"
}

// GoString is String, so %#v does not reveal the password either.
func (u UserUpdate) GoString() string { return u.String() }

// LogValue keeps the password out of slog output (a JSON handler would
// otherwise marshal it).
func (u UserUpdate) LogValue() slog.Value { return slog.StringValue(u.String()) }

// OrganizationCreate is the body that creates an organization; with Parent it
// creates a sub-organization. Name is required.
type OrganizationCreate struct {
	Name        string     `json:"name"`
	DisplayName string     `json:"displayName,omitempty"`
	Parent      string     `json:"parent,omitempty"`
	Email       string     `json:"email,omitempty"`
	URL         string     `json:"url,omitempty"`
	Country     string     `json:"country,omitempty"`
	Logo        string     `json:"logo,omitempty"`
	Industry    string     `json:"industry,omitempty"`
	Stopwords   []string   `json:"stopwords,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Categories  []Category `json:"categories,omitempty"`
	Meta        Meta       `json:"meta,omitempty"`
}

func (o *OrganizationCreate) validate() error {
	if strings.TrimSpace(o.Name) == "" {
		return argError("organization.name", "is required")
	}
	return checkOptionalID("organization.parent", o.Parent)
}

// OrganizationUpdate is the body of an organization PATCH. Only the fields set
// are sent. Slices, Commands and Meta replace the stored value whole (a
// non-nil empty slice clears it): to add one category, send them all.
type OrganizationUpdate struct {
	Name        *string             `json:"name,omitempty"`
	DisplayName *string             `json:"displayName,omitempty"`
	Email       *string             `json:"email,omitempty"`
	URL         *string             `json:"url,omitempty"`
	Country     *string             `json:"country,omitempty"`
	Logo        *string             `json:"logo,omitempty"`
	Industry    *string             `json:"industry,omitempty"`
	Status      *OrganizationStatus `json:"status,omitempty"`
	Stopwords   []string            `json:"stopwords,omitzero"`
	Tags        []string            `json:"tags,omitzero"`
	Categories  []Category          `json:"categories,omitzero"`
	Commands    json.RawMessage     `json:"commands,omitempty"`
	Meta        Meta                `json:"meta,omitzero"`
}

func (o *OrganizationUpdate) validate() error {
	if o.Name != nil && strings.TrimSpace(*o.Name) == "" {
		return argError("organization.name", "must not be empty when set")
	}
	if len(o.Commands) > 0 && !json.Valid(o.Commands) {
		return argError("organization.commands", "is not valid JSON")
	}
	return nil
}

// OrgGroupCreate is the body that creates an organization group. Fields the
// SDK does not know can be sent through Client.Collection("orggroups").
type OrgGroupCreate struct {
	Name         string `json:"name,omitempty"`
	Organization string `json:"organization,omitempty"`
	Meta         Meta   `json:"meta,omitempty"`
}

func (g *OrgGroupCreate) validate() error {
	return checkOptionalID("orggroup.organization", g.Organization)
}

// OrgGroupUpdate is the body of an organization group PATCH; Meta replaces
// the stored meta whole.
type OrgGroupUpdate struct {
	Name *string `json:"name,omitempty"`
	Meta Meta    `json:"meta,omitzero"`
}

// ChannelCreate is the body that creates a channel (team inbox).
type ChannelCreate struct {
	Name         string `json:"name,omitempty"`
	Organization string `json:"organization,omitempty"`
	Meta         Meta   `json:"meta,omitempty"`
}

func (c *ChannelCreate) validate() error {
	return checkOptionalID("channel.organization", c.Organization)
}

// ChannelUpdate is the body of a channel PATCH; Meta replaces the stored meta
// whole.
type ChannelUpdate struct {
	Name *string `json:"name,omitempty"`
	Meta Meta    `json:"meta,omitzero"`
}

// WorkflowCreate is the body that creates a workflow. The rule schema is not
// documented: send rules through Client.Collection("workflows").
type WorkflowCreate struct {
	Name         string `json:"name,omitempty"`
	Organization string `json:"organization,omitempty"`
	Meta         Meta   `json:"meta,omitempty"`
}

func (w *WorkflowCreate) validate() error {
	return checkOptionalID("workflow.organization", w.Organization)
}

// WorkflowUpdate is the body of a workflow PATCH; Meta replaces the stored
// meta whole.
type WorkflowUpdate struct {
	Name *string `json:"name,omitempty"`
	Meta Meta    `json:"meta,omitzero"`
}

// FormCreate is the body that creates a form. Name is required.
type FormCreate struct {
	Organization string      `json:"organization,omitempty"`
	Name         string      `json:"name"`
	Fields       []FormField `json:"fields,omitempty"`
	Meta         Meta        `json:"meta,omitempty"`
}

func (f *FormCreate) validate() error {
	if strings.TrimSpace(f.Name) == "" {
		return argError("form.name", "is required")
	}
	return checkOptionalID("form.organization", f.Organization)
}

// FormUpdate is the body of a form PATCH. Fields replaces every field of the
// form (send them all) and Meta the stored meta.
type FormUpdate struct {
	Name   *string     `json:"name,omitempty"`
	Fields []FormField `json:"fields,omitzero"`
	Meta   Meta        `json:"meta,omitzero"`
}

// BotCreate is the body that creates a bot definition.
type BotCreate struct {
	Name         string `json:"name,omitempty"`
	Organization string `json:"organization,omitempty"`
	Enabled      *bool  `json:"enabled,omitempty"`
	Meta         Meta   `json:"meta,omitempty"`
}

func (b *BotCreate) validate() error {
	return checkOptionalID("bot.organization", b.Organization)
}

// BotUpdate is the body of a bot PATCH; Meta replaces the stored meta whole.
type BotUpdate struct {
	Name    *string    `json:"name,omitempty"`
	Enabled *bool      `json:"enabled,omitempty"`
	Status  *BotStatus `json:"status,omitempty"`
	Meta    Meta       `json:"meta,omitzero"`
}

// BotInstanceCreate is the body that enables a bot for an organization. Bot
// (the bot's ID, which is its user's ID) is required.
type BotInstanceCreate struct {
	Bot          string `json:"bot"`
	Organization string `json:"organization,omitempty"`
	Enabled      *bool  `json:"enabled,omitempty"`
	Meta         Meta   `json:"meta,omitempty"`
}

func (b *BotInstanceCreate) validate() error {
	if err := checkID("botinstance.bot", b.Bot); err != nil {
		return err
	}
	return checkOptionalID("botinstance.organization", b.Organization)
}

// BotInstanceUpdate is the body of a bot instance PATCH. Meta (the
// instance's configuration) replaces the stored meta whole.
type BotInstanceUpdate struct {
	Enabled *bool      `json:"enabled,omitempty"`
	Status  *BotStatus `json:"status,omitempty"`
	Meta    Meta       `json:"meta,omitzero"`
}

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

// GoString is String, so %#v does not reveal credentials either.
func (s ServiceCreate) GoString() string { return s.String() }

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

// GoString is String, so %#v does not reveal credentials either.
func (u ServiceUpdate) GoString() string { return u.String() }

// LogValue keeps params out of slog output.
func (u ServiceUpdate) LogValue() slog.Value { return slog.StringValue(u.String()) }

// String describes the service with credentials in params redacted.
func (s Service) String() string {
	return fmt.Sprintf("Service{ID:%s Organization:%s Name:%q Type:%q Status:%q Params:%v}",
		s.ID, s.Organization.ID, s.Name, s.Type, s.Status, redactParams(s.Params))
}

// GoString is String, so %#v does not reveal credentials either.
func (s Service) GoString() string { return s.String() }

// LogValue keeps params out of slog output.
func (s Service) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("name", s.Name),
		slog.String("type", string(s.Type)), slog.String("status", string(s.Status)))
}

// WebhookParams is the typed view of a webhook service's params. Secret is the
// HMAC key of the X-Hub-Signature header; the platform generates one when none
// is given. String, GoString and LogValue redact the secret and any password
// in the URL (the documentation suggests basic auth credentials there).
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

// GoString is String, so %#v does not reveal the secret either.
func (p WebhookParams) GoString() string { return p.String() }

// LogValue keeps the secret out of slog output.
func (p WebhookParams) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", redactURLString(p.URL)), slog.Any("events", p.Events))
}

// WebhookServiceCreate is the body of CreateWebhook: a service of type
// webhook. URL is required (http or https, absolute); Secret and Events are
// optional. The secret never appears in String, GoString, LogValue or errors.
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
	// empty means all.
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

// GoString is String, so %#v does not reveal the secret either.
func (w WebhookServiceCreate) GoString() string { return w.String() }

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
// exactly one whole dot-separated word).
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
			if w != "*" && strings.Contains(w, "*") {
				return argError(n, "%s: \"*\" must be a whole word", quoteQueryValue(ev))
			}
		}
	}
	return nil
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

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// redactURLString removes the password of a URL's user info; a string that
// does not parse is replaced whole, since it may be anything.
func redactURLString(raw string) string {
	if raw == "" {
		return `""`
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	if u.User == nil {
		return u.String()
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// secretParamKey reports whether a params key names a credential.
func secretParamKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"secret", "password", "passwd", "token", "key", "auth", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redactParams returns a copy of params for printing: credential values are
// replaced, URLs lose their password, nested objects and arrays are walked.
func redactParams(m Meta) Meta {
	if m == nil {
		return nil
	}
	out := make(Meta, len(m))
	for k, v := range m {
		if secretParamKey(k) {
			out[k] = "[redacted]"
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return map[string]any(redactParams(Meta(x)))
	case Meta:
		return redactParams(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e)
		}
		return out
	case string:
		if strings.Contains(x, "://") && strings.Contains(x, "@") {
			return redactURLString(x)
		}
	}
	return v
}
