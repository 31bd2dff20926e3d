package chatshipper

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
