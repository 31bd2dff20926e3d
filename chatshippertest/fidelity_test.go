package chatshippertest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// lifecycleStart builds a conversation in a given starting state; alice is
// the agent who accepted it (where anyone did).
type lifecycleStart struct {
	name  string
	setup func(t *testing.T, srv *Server) string
}

func lifecycleStarts() []lifecycleStart {
	create := func(t *testing.T, srv *Server, msgs ...any) string {
		t.Helper()
		return newConv(t, srv, srv.Token, m{"messages": msgs})["id"].(string)
	}
	withContact := func(t *testing.T, srv *Server, msgs ...any) string {
		t.Helper()
		return newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"email": "c@example.com"}},
			"messages": msgs})["id"].(string)
	}
	alice := func(srv *Server) string { return srv.Seed.AgentUserIDs[0] }
	return []lifecycleStart{
		{"queued, contact unanswered", func(t *testing.T, srv *Server) string {
			return withContact(t, srv, m{"text": "Anyone there?", "role": "contact"})
		}},
		{"queued, answered", func(t *testing.T, srv *Server) string {
			return create(t, srv, m{"text": "Review please"}, cmd("/notify"))
		}},
		{"active, answered", func(t *testing.T, srv *Server) string {
			return create(t, srv, m{"text": "Hello"}, cmd("/accept", "user", alice(srv)))
		}},
		{"active, contact unanswered", func(t *testing.T, srv *Server) string {
			id := withContact(t, srv, m{"text": "Hello"}, cmd("/accept", "user", alice(srv)))
			post(t, srv, srv.Token, id, m{"text": "Still there?", "role": "contact"})
			return id
		}},
		{"active, accepted by another agent too", func(t *testing.T, srv *Server) string {
			return create(t, srv, m{"text": "Hello"}, cmd("/accept", "user", alice(srv)),
				cmd("/accept", "user", srv.Seed.AdminUserID))
		}},
		{"closed", func(t *testing.T, srv *Server) string {
			return create(t, srv, m{"text": "Hello"}, cmd("/accept", "user", alice(srv)), cmd("/leave", "user", alice(srv)))
		}},
		{"archived", func(t *testing.T, srv *Server) string {
			origin := create(t, srv, m{"text": "Hello"})
			create(t, srv, m{"text": "Merged"}, cmd("/import "+origin))
			return origin
		}},
	}
}

// TestJoinReopensClosed: /join makes a closed conversation active and leaves
// any other status alone.
func TestJoinReopensClosed(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"queued, contact unanswered":            "queued",
		"queued, answered":                      "queued",
		"active, answered":                      "active",
		"active, contact unanswered":            "active",
		"active, accepted by another agent too": "active",
		"closed":                                "active",
		"archived":                              "archived",
	}
	for _, tc := range lifecycleStarts() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t)
			id := tc.setup(t, srv)
			before := getDoc(t, srv, "conversations", id)["status"]
			bob := srv.Seed.AgentUserIDs[1]
			post(t, srv, srv.Token, id, cmd("/join", "user", bob))
			c := getDoc(t, srv, "conversations", id)
			assert.Equal(t, want[tc.name], c["status"], "from %s", before)
			assert.Equal(t, [3]bool{false, true, false}, flags(t, c, bob))
		})
	}
}

// TestForwardOutcome: the /leave + /join pair of a forward, per starting
// status. The SDK's Forward documentation states these outcomes.
func TestForwardOutcome(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"queued, contact unanswered":            "queued", // /leave queues again, /join keeps it
		"queued, answered":                      "active", // /leave closes, /join re-opens
		"active, answered":                      "active", // /leave closes, /join re-opens
		"active, contact unanswered":            "queued", // /leave queues again, /join keeps it
		"active, accepted by another agent too": "active", // /leave keeps it active
		"closed":                                "active", // /join re-opens
		"archived":                              "archived",
	}
	for _, tc := range lifecycleStarts() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t)
			id := tc.setup(t, srv)
			alice, bob := srv.Seed.AgentUserIDs[0], srv.Seed.AgentUserIDs[1]
			mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token,
				[]any{cmd("/leave", "user", alice), cmd("/join", "user", bob)})
			c := getDoc(t, srv, "conversations", id)
			assert.Equal(t, want[tc.name], c["status"])
			assert.Equal(t, [3]bool{false, true, false}, flags(t, c, bob), "bob is active, not accepted")
		})
	}
}
