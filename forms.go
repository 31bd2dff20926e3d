package chatshipper

import (
	"strings"
)

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
