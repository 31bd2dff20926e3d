package chatshipper

import (
	"context"
	"strings"
)

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

// FindByTelephone returns the contacts whose profile.telephone is telephone,
// normally at most one per organization. The number is stored in E.164 form:
// give it with its leading "+" (spaces, dashes, dots and parentheses are
// removed first); it is sent percent-encoded (%2B), so the server does not
// read the "+" as a space. organizationID, when not "", limits the search to
// one organization (needed when the token spans several).
//
// GET /v2/contacts?profile.telephone=%2B...&organization=...
func (s *ContactsService) FindByTelephone(ctx context.Context, telephone, organizationID string) ([]*Contact, *Response, error) {
	tel, err := normalizeE164(telephone)
	if err != nil {
		return nil, nil, err
	}
	q := NewQuery().Where("profile.telephone", Eq(tel))
	if organizationID != "" {
		if err := checkID("organizationID", organizationID); err != nil {
			return nil, nil, err
		}
		q = q.Where("organization", Eq(organizationID))
	}
	return s.List(ctx, q)
}

// normalizeE164 strips the usual separators and checks the E.164 form: "+",
// then up to 15 digits, the first not 0. The number is not quoted in errors
// (it is personal data).
func normalizeE164(tel string) (string, error) {
	var b strings.Builder
	for _, r := range tel {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if s == "" {
		return "", argError("telephone", "must not be empty")
	}
	if s[0] != '+' {
		return "", argError("telephone", "must be in E.164 form with a leading \"+\" and the country code")
	}
	digits := s[1:]
	if len(digits) < 2 || len(digits) > 15 || digits[0] == '0' {
		return "", argError("telephone", "must have 2 to 15 digits after \"+\", the first not 0")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", argError("telephone", "may contain only digits after \"+\"")
		}
	}
	return s, nil
}
