package chatshipper

import "encoding/json"

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
	Meta      Meta      `json:"meta,omitempty"`
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
	Meta          Meta               `json:"meta,omitempty"`
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
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name,omitempty"`
	DisplayName string            `json:"displayName,omitempty"`
	Email       string            `json:"email,omitempty"`
	URL         string            `json:"url,omitempty"`
	Country     string            `json:"country,omitempty"`
	Logo        string            `json:"logo,omitempty"`
	Industry    string            `json:"industry,omitempty"`
	Status      string            `json:"status,omitempty"`
	Stopwords   []string          `json:"stopwords,omitzero"`
	Categories  []Category        `json:"categories,omitzero"`
	Parent      Ref[Organization] `json:"parent,omitzero"`
	// Path is the ancestor organization IDs joined with "#", ending with this one.
	Path    string   `json:"path,omitempty"`
	OrgPath string   `json:"orgPath,omitempty"`
	Level   int      `json:"level,omitempty"`
	Tags    []string `json:"tags,omitzero"`
	// Commands is the organization's bot-command configuration; its schema
	// is not documented, so it is kept as raw JSON.
	Commands  json.RawMessage `json:"commands,omitempty"`
	Meta      Meta            `json:"meta,omitempty"`
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
	Meta         Meta              `json:"meta,omitempty"`
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
	Type         string            `json:"type,omitempty"`
	// Params are type-specific (webhook: url, secret, events).
	Params    Meta      `json:"params,omitempty"`
	Status    string    `json:"status,omitempty"`
	Meta      Meta      `json:"meta,omitempty"`
	CreatedAt Timestamp `json:"createdAt,omitzero"`
	UpdatedAt Timestamp `json:"updatedAt,omitzero"`
}

func (s *Service) refID() string { return s.ID }

// ServiceUpdate is the body of a service PATCH. Params replaces the stored
// params whole: fields left out fall back to their defaults.
type ServiceUpdate struct {
	Name   *string `json:"name,omitempty"`
	Status *string `json:"status,omitempty"`
	Params Meta    `json:"params,omitzero"`
	Meta   Meta    `json:"meta,omitzero"`
}
