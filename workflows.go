package chatshipper

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
