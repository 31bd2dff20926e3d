package chatshipper

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

// BotStatus is the state of a bot or bot instance.
type BotStatus string

// Bot statuses seen in the official SDK.
const (
	BotActive BotStatus = "active"
)

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
