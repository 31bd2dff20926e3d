package chatshipper

import (
	"encoding/json"
	"strings"
)

// Models of the resources other than conversations and messages. Fields are
// those the API documentation and its examples show; unknown fields are
// ignored on decode.

// ContactProfile is what is known about a consumer.
type ContactProfile struct {
	Name       string `json:"name,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	Email      string `json:"email,omitempty"`
	// Telephone is stored in E.164 form ("+441134960999").
	Telephone string `json:"telephone,omitempty"`
	Locale    string `json:"locale,omitempty"`
	Gender    string `json:"gender,omitempty"`
	// Address is free-form.
	Address Meta `json:"address,omitempty"`
}

// Contact is a consumer. Each contact has exactly one conversation.
type Contact struct {
	ID           string            `json:"id,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	OrgPath      string            `json:"orgPath,omitempty"`
	Conversation Ref[Conversation] `json:"conversation,omitzero"`
	Profile      ContactProfile    `json:"profile,omitzero"`
	// Presences are the contact's established channel connections; their
	// schema is not documented, so each keeps every field.
	Presences []Meta    `json:"presences,omitzero"`
	Blocked   bool      `json:"blocked,omitempty"`
	Meta      Object    `json:"meta,omitzero"`
	CreatedAt Timestamp `json:"createdAt,omitzero"`
	UpdatedAt Timestamp `json:"updatedAt,omitzero"`
}

func (c *Contact) refID() string { return c.ID }

// ContactCreate is the body that creates a contact (also the contact of a
// business-initiated conversation).
type ContactCreate struct {
	Organization string         `json:"organization,omitempty"`
	Profile      ContactProfile `json:"profile"`
	Meta         Meta           `json:"meta,omitempty"`
}

// UserOrganization is a user's membership of an organization.
type UserOrganization struct {
	Organization Ref[Organization] `json:"organization,omitzero"`
	OrgPath      string            `json:"orgPath,omitempty"`
	Selected     bool              `json:"selected,omitempty"`
	// Role is the user's role there: viewer/guest, agent, bot or admin.
	Role Role `json:"role,omitempty"`
}

// User is a person or application that can log in: viewers, agents, admins
// and bots.
type User struct {
	ID            string             `json:"id,omitempty"`
	Name          string             `json:"name,omitempty"`
	GivenName     string             `json:"givenName,omitempty"`
	FamilyName    string             `json:"familyName,omitempty"`
	Email         string             `json:"email,omitempty"`
	Avatar        string             `json:"avatar,omitempty"`
	Status        string             `json:"status,omitempty"`
	Role          Role               `json:"role,omitempty"`
	Organizations []UserOrganization `json:"organizations,omitzero"`
	Meta          Object             `json:"meta,omitzero"`
	CreatedAt     Timestamp          `json:"createdAt,omitzero"`
	UpdatedAt     Timestamp          `json:"updatedAt,omitzero"`
}

func (u *User) refID() string { return u.ID }

// Category is a context slot of an organization (up to 10, index 0-9) with
// the forms assigned to it.
type Category struct {
	Name  string      `json:"name"`
	Forms []Ref[Form] `json:"forms,omitzero"`
	Meta  Meta        `json:"meta,omitempty"`
}

// Organization is a tenant in the organization hierarchy (MCC, customer,
// sub-organization).
type Organization struct {
	ID          string             `json:"id,omitempty"`
	Name        string             `json:"name,omitempty"`
	DisplayName string             `json:"displayName,omitempty"`
	Email       string             `json:"email,omitempty"`
	URL         string             `json:"url,omitempty"`
	Country     string             `json:"country,omitempty"`
	Logo        string             `json:"logo,omitempty"`
	Industry    string             `json:"industry,omitempty"`
	Status      OrganizationStatus `json:"status,omitempty"`
	Stopwords   []string           `json:"stopwords,omitzero"`
	Categories  []Category         `json:"categories,omitzero"`
	Parent      Ref[Organization]  `json:"parent,omitzero"`
	// Path is the ancestor organization IDs joined with "#", ending with this one.
	Path    string   `json:"path,omitempty"`
	OrgPath string   `json:"orgPath,omitempty"`
	Level   int      `json:"level,omitempty"`
	Tags    []string `json:"tags,omitzero"`
	// Commands is the organization's bot-command configuration; its schema
	// is not documented, so it is kept as raw JSON.
	Commands  json.RawMessage `json:"commands,omitempty"`
	Meta      Object          `json:"meta,omitzero"`
	CreatedAt Timestamp       `json:"createdAt,omitzero"`
	UpdatedAt Timestamp       `json:"updatedAt,omitzero"`
}

func (o *Organization) refID() string { return o.ID }

// FormField is one field of a form.
type FormField struct {
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"`
	Type string `json:"type,omitempty"`
	Meta Meta   `json:"meta,omitempty"`
}

// Form is a per-organization container of fields, assigned to categories.
type Form struct {
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	Fields       []FormField       `json:"fields,omitzero"`
	Meta         Object            `json:"meta,omitzero"`
	CreatedAt    Timestamp         `json:"createdAt,omitzero"`
	UpdatedAt    Timestamp         `json:"updatedAt,omitzero"`
}

func (f *Form) refID() string { return f.ID }

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

// Organization levels in the hierarchy (Organization.Level). Only an MCC
// admin creates organizations and sub-organizations.
const (
	OrgLevelMCC      = 1 // a messaging contact center
	OrgLevelCustomer = 2 // a customer organization of an MCC
	OrgLevelSub      = 3 // a sub-organization (a leaf)
)

// PathIDs returns the IDs of the organization's ancestors and itself, root
// first, read from Path (or OrgPath when Path is empty); nil when neither is
// set.
func (o *Organization) PathIDs() []string {
	p := o.Path
	if p == "" {
		p = o.OrgPath
	}
	if p == "" {
		return nil
	}
	return strings.Split(p, "#")
}

// OrgGroup is an organization group: a tag-like grouping of organizations (an
// organization may be in many groups), used for example to restrict
// workflows. Only its common fields are documented; read the others with
// Client.Collection("orggroups").
type OrgGroup struct {
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	OrgPath      string            `json:"orgPath,omitempty"`
	Meta         Object            `json:"meta,omitzero"`
	CreatedAt    Timestamp         `json:"createdAt,omitzero"`
	UpdatedAt    Timestamp         `json:"updatedAt,omitzero"`
}

func (g *OrgGroup) refID() string { return g.ID }

// Channel is a team inbox: it receives notifications of queued conversations
// (/notify targets channels) and agents subscribe to it. The API documents
// only its ID; the other fields are the ones every resource has [inferred].
// Read any other field with Client.Collection("channels").
type Channel struct {
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	OrgPath      string            `json:"orgPath,omitempty"`
	Meta         Object            `json:"meta,omitzero"`
	CreatedAt    Timestamp         `json:"createdAt,omitzero"`
	UpdatedAt    Timestamp         `json:"updatedAt,omitzero"`
}

func (c *Channel) refID() string { return c.ID }

// Workflow is a routing rule set: when a conversation becomes queued, the
// workflows of its organization (and of its ancestors, unless restricted)
// decide which channels to notify. Its rule schema is not documented; the
// fields here are the ones every resource has [inferred]. Read the rules with
// Client.Collection("workflows").
type Workflow struct {
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	OrgPath      string            `json:"orgPath,omitempty"`
	Meta         Object            `json:"meta,omitzero"`
	CreatedAt    Timestamp         `json:"createdAt,omitzero"`
	UpdatedAt    Timestamp         `json:"updatedAt,omitzero"`
}

func (w *Workflow) refID() string { return w.ID }

// Bot is a bot definition: the global template of one piece of bot software.
// Its ID is the bot user's ID. Organizations enable it through bot instances.
type Bot struct {
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	Enabled      bool              `json:"enabled,omitempty"`
	Status       BotStatus         `json:"status,omitempty"`
	Meta         Object            `json:"meta,omitzero"`
	CreatedAt    Timestamp         `json:"createdAt,omitzero"`
	UpdatedAt    Timestamp         `json:"updatedAt,omitzero"`
}

func (b *Bot) refID() string { return b.ID }

// BotInstance is one organization's copy of a bot, holding that
// organization's configuration of it (in Meta, usually string values).
type BotInstance struct {
	ID           string            `json:"id,omitempty"`
	Bot          Ref[Bot]          `json:"bot,omitzero"`
	Organization Ref[Organization] `json:"organization,omitzero"`
	// OrgPath is the owning organization's path; the SDKs list instances
	// sorted by it to apply configuration from the root down.
	OrgPath   string    `json:"orgPath,omitempty"`
	Enabled   bool      `json:"enabled,omitempty"`
	Status    BotStatus `json:"status,omitempty"`
	Meta      Object    `json:"meta,omitzero"`
	CreatedAt Timestamp `json:"createdAt,omitzero"`
	UpdatedAt Timestamp `json:"updatedAt,omitzero"`
}

func (b *BotInstance) refID() string { return b.ID }
