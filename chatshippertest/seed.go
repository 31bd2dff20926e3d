package chatshippertest

import (
	"strings"
)

// Seed describes the data every new Server starts with: one organization with
// two categories, a bot, an admin, two agents and a guest (role "guest", the
// scope the docs call viewer), two channels and one form.
type Seed struct {
	OrganizationID string
	BotUserID      string
	AdminUserID    string
	GuestUserID    string
	AgentUserIDs   []string
	ChannelIDs     []string
	// FormID is the form with fields "name" and "email", assigned to category 0.
	FormID string
	// CategoryName is the name of category 0 ("General"); CategoryNames lists all.
	CategoryName  string
	CategoryNames []string

	BotEmail, BotPassword     string
	AdminEmail, AdminPassword string
	AgentEmails               []string
	AgentPassword             string
	GuestEmail, GuestPassword string
}

// seed fills the store. It runs before the server is shared, so no lock is needed.
func (s *Server) seed() {
	now := formatTime(s.now())
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s.newID()
		}
		return out
	}
	orgID := s.newID()
	formID := s.newID()
	chans := ids(2)
	userIDs := ids(5) // bot, admin, agent, agent, guest
	sd := Seed{
		OrganizationID: orgID, BotUserID: userIDs[0], AdminUserID: userIDs[1],
		AgentUserIDs: userIDs[2:4], GuestUserID: userIDs[4], ChannelIDs: chans, FormID: formID,
		CategoryName: "General", CategoryNames: []string{"General", "Used Car"},
		BotEmail: "bot+" + userIDs[0] + "@chatshipper.com", BotPassword: "bot-secret-1",
		AdminEmail: "admin@acme.test", AdminPassword: "admin-secret-1",
		AgentEmails:   []string{"alice@acme.test", "bob@acme.test"},
		AgentPassword: "agent-secret-1",
		GuestEmail:    "guest@acme.test", GuestPassword: "guest-secret-1",
	}
	s.Seed = sd
	put := func(c string, d doc) {
		d["createdAt"], d["updatedAt"] = now, now
		s.store.colls[c][d["id"].(string)] = d
	}
	put("organizations", doc{
		"id": orgID, "name": "Acme Motors", "displayName": "Acme Motors, Inc",
		"email": "info@acme.test", "status": "active", "level": float64(1),
		"path": orgID, "orgPath": orgID,
		"categories": []any{
			map[string]any{"name": "General", "forms": []any{formID}},
			map[string]any{"name": "Used Car", "forms": []any{}},
		},
	})
	put("forms", doc{
		"id": formID, "organization": orgID, "name": "Contact details",
		"fields": []any{
			map[string]any{"name": "Name", "key": "name"},
			map[string]any{"name": "Email", "key": "email"},
		},
	})
	for i, name := range []string{"Sales", "Support"} {
		put("channels", doc{"id": chans[i], "organization": orgID, "name": name,
			"users": anys(sd.AgentUserIDs)})
	}
	type person struct{ given, family, email, password, role string }
	people := []person{
		{"Awesome", "Bot", sd.BotEmail, sd.BotPassword, "bot"},
		{"Ada", "Admin", sd.AdminEmail, sd.AdminPassword, "admin"},
		{"Alice", "Agent", sd.AgentEmails[0], sd.AgentPassword, "agent"},
		{"Bob", "Agent", sd.AgentEmails[1], sd.AgentPassword, "agent"},
		{"Gus", "Guest", sd.GuestEmail, sd.GuestPassword, "guest"},
	}
	for i, p := range people {
		id := userIDs[i]
		put("users", doc{
			"id": id, "givenName": p.given, "familyName": p.family,
			"name": p.given + " " + p.family, "email": p.email, "status": "active",
			"avatar": avatarURL(id),
			"organizations": []any{map[string]any{
				"organization": orgID, "orgPath": orgID, "role": p.role, "selected": true,
			}},
		})
		s.creds[strings.ToLower(p.email)] = credential{userID: id, password: p.password}
	}
	s.Token = s.IssueToken(sd.BotUserID, tokenScope("bot"), 0)
	s.AdminToken = s.IssueToken(sd.AdminUserID, tokenScope("admin"), 0)
	s.AgentToken = s.IssueToken(sd.AgentUserIDs[0], tokenScope("agent"), 0)
	s.GuestToken = s.IssueToken(sd.GuestUserID, tokenScope("guest"), 0)
}

// avatarURL is the deterministic avatar of a user.
func avatarURL(userID string) string {
	return "https://storage.googleapis.com/cs2-uploads/avatars/" + userID + ".png"
}
