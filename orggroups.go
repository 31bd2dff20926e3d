package chatshipper

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
