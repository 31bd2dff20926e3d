package chatshipper

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// Enums, request bodies and the webhook view of the resources served by the
// typed services in resources.go. Create bodies carry plain ID strings; update
// bodies have pointer fields so that only what is set is sent, and their
// nested objects and arrays replace the stored value whole (PATCH merges top
// level keys only, https://developers.chatshipper.com/docs/api-introduction).

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
// user). Password is never printed: String, Format and LogValue redact it.
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
