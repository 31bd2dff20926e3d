package chatshipper

import (
	"encoding/json"
	"strings"
)

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

// OrganizationStatus is the state of an organization.
type OrganizationStatus string

// Organization statuses seen in the documentation.
const (
	OrganizationActive OrganizationStatus = "active"
)

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
