package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

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

// User roles beyond those of message authors. The provisioning guide names the
// lowest role "viewer" while the matching token scope is "guest"; which one
// appears in a membership's role is [uncertain], so both are defined.
const (
	RoleViewer Role = "viewer" // may read, not act (provisioning guide name)
	RoleGuest  Role = "guest"  // the scope name of the lowest role
)

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

// ErrSelfUnknown is returned by [UsersService.Me] and [Client.SelfUserID] when
// the client cannot tell its own user: the token is not a JWT with an _id
// claim and the token source does not name the user.
var ErrSelfUnknown = errors.New("chatshipper: the token's own user ID is unknown")

// Me returns the user the client's token belongs to. Every role may fetch its
// own user. The ID is read from the token's _id claim (or the login answer of
// a RefreshingTokenSource); when there is none, Me returns ErrSelfUnknown
// before any request.
//
// GET /v2/users/{id}
func (s *UsersService) Me(ctx context.Context) (*User, *Response, error) {
	if err := s.r.check(); err != nil {
		return nil, nil, err
	}
	id := s.r.client.selfUserID(ctx)
	if id == "" {
		return nil, nil, ErrSelfUnknown
	}
	return s.Get(ctx, id, nil)
}

// Format makes every verb print String, so the password never shows.
func (u UserCreate) Format(f fmt.State, verb rune) { printRedacted(f, verb, u.String()) }

// Format makes every verb print String, so the password never shows.
func (u UserUpdate) Format(f fmt.State, verb rune) { printRedacted(f, verb, u.String()) }
