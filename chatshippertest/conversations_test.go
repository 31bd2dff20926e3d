package chatshippertest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newConv creates a conversation and returns the response body.
func newConv(t *testing.T, srv *Server, token string, body any) map[string]any {
	t.Helper()
	return mustCall(t, srv, http.StatusCreated, "POST", "conversations", token, body).obj(t)
}

// post sends one message to a conversation and returns the created message.
func post(t *testing.T, srv *Server, token, convID string, msg any) map[string]any {
	t.Helper()
	return mustCall(t, srv, http.StatusCreated, "POST", "conversations/"+convID+"/messages", token, msg).obj(t)
}

// postFails sends a message that must be refused with status and returns the error message.
func postFails(t *testing.T, srv *Server, status int, token, convID string, msg any) string {
	t.Helper()
	return mustCall(t, srv, status, "POST", "conversations/"+convID+"/messages", token, msg).errMsg(t)
}

func cmd(text string, kv ...any) m {
	out := m{"type": "command", "text": text}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// part returns the participant entry of user in a conversation document.
func part(t *testing.T, conv map[string]any, user string) map[string]any {
	t.Helper()
	for _, e := range conv["participants"].([]any) {
		if p := e.(map[string]any); p["user"] == user {
			return p
		}
	}
	t.Fatalf("no participant %s", user)
	return nil
}

// flags summarizes a participant as inbox/active/accepted.
func flags(t *testing.T, conv map[string]any, user string) [3]bool {
	p := part(t, conv, user)
	return [3]bool{p["inbox"] == true, p["active"] == true, p["accepted"] == true}
}

func TestCreateConversationSpecExample(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	sd := srv.Seed
	now := clk.stamp(0)
	body := m{"messages": []any{
		m{"text": "Hello"},
		m{"type": "command", "text": "/notify", "meta": m{"channels": []any{sd.ChannelIDs[0]}}},
	}}
	got := newConv(t, srv, srv.Token, body)

	id, slug := got["id"].(string), got["slug"].(string)
	msgs := got["messages"].([]any)
	require.Len(t, msgs, 2)
	assert.Regexp(t, `^[A-Z][a-z]+ [A-Z][a-z]+$`, got["name"])
	assert.Regexp(t, `^[0-9A-Za-z_-]{9}$`, slug)
	assert.Equal(t, m{
		"id": id, "organization": sd.OrganizationID, "orgPath": sd.OrganizationID, "name": got["name"],
		"type": "bot", "slug": slug, "url": "https://s-view.chatshipper.com/c/" + slug, "status": "queued",
		"participants": []any{m{"updatedAt": now, "createdAt": now, "name": "Awesome Bot",
			"avatar": avatarURL(sd.BotUserID), "user": sd.BotUserID, "unreadCount": float64(0),
			"inbox": false, "accepted": false, "active": false, "role": "bot"}},
		"messages": msgs, "channels": []any{sd.ChannelIDs[0]}, "channelsOffline": []any{},
		"forms": []any{}, "results": []any{}, "createdBy": sd.BotUserID, "updatedAt": now, "createdAt": now,
	}, got)
	assert.Equal(t, got, getDoc(t, srv, "conversations", id), "the response is the stored state")

	system := m{"conversation": id, "organization": sd.OrganizationID, "orgPath": sd.OrganizationID,
		"user": sd.BotUserID, "role": "bot", "version": float64(1), "createdAt": now, "updatedAt": now}
	with := func(kv m) m {
		out := m{}
		for k, v := range system {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}
	assert.Equal(t, with(m{"id": msgs[0], "type": "chat", "text": "Hello"}), getDoc(t, srv, "messages", msgs[0].(string)))
	assert.Equal(t, with(m{"id": msgs[1], "type": "command", "text": "/notify", "meta": m{"channels": []any{sd.ChannelIDs[0]}}}),
		getDoc(t, srv, "messages", msgs[1].(string)))
}

func TestCreateConversationAssignAndReply(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	agent := sd.AgentUserIDs[0]
	got := newConv(t, srv, srv.AdminToken, m{"name": "Announcement", "messages": []any{
		m{"text": "I'm getting married!"},
		cmd("/assign", "meta", m{"users": []any{agent}}),
	}})
	id := got["id"].(string)
	assert.Equal(t, "Announcement", got["name"])
	assert.Equal(t, "agent", got["type"], "an admin's conversation is an agent conversation")
	assert.Equal(t, "queued", got["status"])
	assert.Equal(t, [3]bool{false, false, false}, flags(t, got, sd.AdminUserID))
	assert.Equal(t, [3]bool{true, false, false}, flags(t, got, agent))
	assert.Equal(t, "agent", part(t, got, agent)["role"])
	assert.Equal(t, "Alice Agent", part(t, got, agent)["name"])

	post(t, srv, srv.AgentToken, id, m{"text": "Congratulations!"})
	c := getDoc(t, srv, "conversations", id)
	assert.Equal(t, [3]bool{true, false, false}, flags(t, c, sd.AdminUserID), "the reply lands in the creator's inbox")
}

func TestCreateConversationDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	got := newConv(t, srv, srv.AgentToken, m{"meta": m{"topic": "x"}, "touchpoint": "web", "status": "active", "id": "ignored"})
	assert.Equal(t, "agent", got["type"])
	assert.Equal(t, "closed", got["status"], "nothing targets it yet")
	assert.Equal(t, m{"topic": "x"}, got["meta"])
	assert.Equal(t, "web", got["touchpoint"])
	assert.NotEqual(t, "ignored", got["id"])
	assert.Equal(t, []any{}, got["messages"])

	before := len(srv.List("conversations"))
	msgsBefore := len(srv.List("messages"))
	tests := []struct {
		name string
		body any
		msg  string
	}{
		{"messages not an array", m{"messages": m{"text": "x"}}, "messages must be an array of message objects"},
		{"message not an object", m{"messages": []any{"x"}}, "messages must be an array of message objects"},
		{"invalid type", m{"type": "robot"}, "type must be one of contact, bot, agent or system"},
		{"unknown organization", m{"organization": "5bb0277fd99faf11a3f4a3ff"}, "Organization 5bb0277fd99faf11a3f4a3ff not found"},
		{"empty name", m{"name": ""}, "name must be a non-empty string"},
		{"meta not an object", m{"meta": "x"}, "meta must be an object"},
		{"contact type without contact", m{"type": "contact"}, "a contact conversation needs contact.profile"},
		{"contact without profile", m{"contact": m{"name": "x"}}, "contact.profile must be an object"},
		{"unknown contact id", m{"contact": "5bb0277fd99faf11a3f4a3ff"}, "Contact 5bb0277fd99faf11a3f4a3ff not found"},
		{"message without text", m{"messages": []any{m{"text": "ok"}, m{"type": "chat"}}}, "text is required"},
		{"assign to unknown user", m{"messages": []any{m{"text": "ok"}, cmd("/assign", "meta", m{"users": []any{"5bb0277fd99faf11a3f4a3ff"}})}},
			"User 5bb0277fd99faf11a3f4a3ff not found"},
		{"unknown command", m{"messages": []any{cmd("/dance")}}, "Unknown command /dance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCall(t, srv, http.StatusUnprocessableEntity, "POST", "conversations", srv.Token, tt.body)
			assert.Equal(t, tt.msg, r.errMsg(t))
			assert.Len(t, srv.List("conversations"), before, "nothing stored")
			assert.Len(t, srv.List("messages"), msgsBefore, "nothing stored")
			assert.Len(t, srv.List("contacts"), 0, "nothing stored")
		})
	}
	mustCall(t, srv, http.StatusBadRequest, "POST", "conversations", srv.Token, `{`)
	mustCall(t, srv, http.StatusForbidden, "POST", "conversations", srv.GuestToken, m{})
	_ = sd
}

func TestCreateContactConversation(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	body := m{"type": "contact", "contact": m{"profile": m{"name": "John Doe", "email": "john@example.com", "telephone": "+441134960999"}},
		"messages": []any{m{"text": "Hi there", "role": "contact"}}}
	got := newConv(t, srv, srv.Token, body)
	id := got["id"].(string)
	contactID, _ := got["contact"].(string)
	require.NotEmpty(t, contactID)
	assert.Equal(t, "contact", got["type"])
	assert.Equal(t, "queued", got["status"], "a contact message queues the conversation")
	assert.Equal(t, []any{sd.ChannelIDs[0], sd.ChannelIDs[1]}, got["channels"])
	contact := getDoc(t, srv, "contacts", contactID)
	assert.Equal(t, m{"id": contactID, "organization": sd.OrganizationID, "orgPath": sd.OrganizationID,
		"profile":   m{"name": "John Doe", "email": "john@example.com", "telephone": "+441134960999"},
		"presences": []any{}, "conversation": id, "createdAt": contact["createdAt"], "updatedAt": contact["updatedAt"]}, contact)
	msg := getDoc(t, srv, "messages", got["messages"].([]any)[0].(string))
	assert.Equal(t, "contact", msg["role"])
	assert.Equal(t, contactID, msg["contact"])

	upserts := []struct {
		name    string
		profile m
	}{
		{"same email, other case", m{"email": "JOHN@example.com"}},
		{"same telephone", m{"telephone": "+441134960999"}},
	}
	for i, u := range upserts {
		t.Run(u.name, func(t *testing.T) {
			r := mustCall(t, srv, http.StatusOK, "POST", "conversations", srv.Token,
				m{"contact": m{"profile": u.profile}, "messages": []any{m{"text": "again", "role": "agent"}}})
			again := r.obj(t)
			assert.Equal(t, id, again["id"])
			assert.Len(t, again["messages"], 2+i)
		})
	}
	t.Run("contact by id", func(t *testing.T) {
		r := mustCall(t, srv, http.StatusOK, "POST", "conversations", srv.Token, m{"contact": contactID})
		assert.Equal(t, id, r.obj(t)["id"])
	})
	t.Run("new identifier, new contact", func(t *testing.T) {
		other := newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"email": "jane@example.com"}}})
		assert.NotEqual(t, id, other["id"])
		assert.NotEqual(t, contactID, other["contact"])
		assert.Equal(t, "closed", other["status"])
	})
	t.Run("contact created without conversation gets one", func(t *testing.T) {
		c := mustCall(t, srv, 201, "POST", "contacts", srv.Token, m{"profile": m{"email": "solo@example.com"}}).obj(t)
		conv := newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"email": "solo@example.com"}}})
		assert.Equal(t, c["id"], conv["contact"])
		assert.Equal(t, conv["id"], getDoc(t, srv, "contacts", c["id"].(string))["conversation"])
	})
}

func TestPostMessages(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	sd := srv.Seed
	conv := newConv(t, srv, srv.Token, m{})["id"].(string)

	t.Run("default roles per caller", func(t *testing.T) {
		for tok, role := range map[string]string{srv.Token: "bot", srv.AdminToken: "agent", srv.AgentToken: "agent", srv.GuestToken: "agent"} {
			got := post(t, srv, tok, conv, m{"text": "hi"})
			assert.Equal(t, role, got["role"])
			assert.Equal(t, "chat", got["type"])
		}
	})
	t.Run("single object answers one object", func(t *testing.T) {
		clk.advance(time.Second)
		got := post(t, srv, srv.Token, conv, m{"text": "hello", "type": "card", "meta": m{"title": "T"},
			"isBackchannel": true, "id": "x", "version": 7, "likes": []any{"x"}, "createdAt": "x"})
		id := got["id"].(string)
		assert.Equal(t, m{"id": id, "conversation": conv, "organization": sd.OrganizationID, "orgPath": sd.OrganizationID,
			"type": "card", "role": "bot", "user": sd.BotUserID, "text": "hello", "meta": m{"title": "T"},
			"isBackchannel": true, "version": float64(1), "createdAt": clk.stamp(0), "updatedAt": clk.stamp(0)}, got)
		c := getDoc(t, srv, "conversations", conv)
		msgs := c["messages"].([]any)
		assert.Equal(t, id, msgs[len(msgs)-1])
		assert.Equal(t, clk.stamp(0), c["updatedAt"])
	})
	t.Run("array answers an array in order", func(t *testing.T) {
		r := mustCall(t, srv, 201, "POST", "conversations/"+conv+"/messages", srv.Token, []any{
			m{"text": "one"}, m{"text": "two", "role": "contact", "user": sd.AgentUserIDs[1]}, cmd(">onboard")})
		list := r.list(t)
		require.Len(t, list, 3)
		texts := []any{}
		for _, e := range list {
			texts = append(texts, e.(map[string]any)["text"])
		}
		assert.Equal(t, []any{"one", "two", ">onboard"}, texts)
		assert.Equal(t, sd.AgentUserIDs[1], list[1].(map[string]any)["user"])
		assert.Equal(t, "contact", list[1].(map[string]any)["role"])
		c := getDoc(t, srv, "conversations", conv)
		assert.Equal(t, ids(list), c["messages"].([]any)[len(c["messages"].([]any))-3:])
	})
	t.Run("POST /v2/messages with the conversation in the body", func(t *testing.T) {
		got := mustCall(t, srv, 201, "POST", "messages", srv.Token, m{"conversation": conv, "text": "direct"}).obj(t)
		assert.Equal(t, conv, got["conversation"])
		r := mustCall(t, srv, 422, "POST", "messages", srv.Token, m{"text": "no conversation"})
		assert.Equal(t, "conversation is required", r.errMsg(t))
		r = mustCall(t, srv, 422, "POST", "messages", srv.Token, m{"conversation": "5bb0277fd99faf11a3f4a3ff", "text": "x"})
		assert.Equal(t, "Conversation 5bb0277fd99faf11a3f4a3ff not found", r.errMsg(t))
	})
	t.Run("list a conversation's messages", func(t *testing.T) {
		r := mustCall(t, srv, 200, "GET", "conversations/"+conv+"/messages?select=text&sort=-id&limit=2", srv.Token, nil)
		c := getDoc(t, srv, "conversations", conv)
		all := c["messages"].([]any)
		assert.Equal(t, []any{m{"id": all[len(all)-1], "text": "direct"}, m{"id": all[len(all)-2], "text": ">onboard"}}, r.list(t))
		assert.Equal(t, "9", r.Header.Get("X-Total"), "4 + 1 + 3 + 1 messages")
		mustCall(t, srv, 404, "GET", "conversations/5bb0277fd99faf11a3f4a3ff/messages", srv.Token, nil)
		mustCall(t, srv, 403, "GET", "conversations/"+conv+"/messages", srv.AgentToken, nil)
	})

	before := len(srv.List("messages"))
	errs := []struct {
		name   string
		path   string
		body   any
		status int
		msg    string
	}{
		{"missing text", conv, m{"type": "chat"}, 422, "text is required"},
		{"empty text", conv, m{"text": ""}, 422, "text is required"},
		{"text not a string", conv, m{"text": 5}, 422, "text is required"},
		{"invalid type", conv, m{"text": "x", "type": "smoke"}, 422, "invalid message type smoke"},
		{"invalid role", conv, m{"text": "x", "role": "boss"}, 422, "invalid message role boss"},
		{"unknown user", conv, m{"text": "x", "user": "5bb0277fd99faf11a3f4a3ff"}, 422, "User 5bb0277fd99faf11a3f4a3ff not found"},
		{"meta not an object", conv, m{"text": "x", "meta": []any{}}, 422, "meta must be an object"},
		{"empty array", conv, []any{}, 422, "no messages given"},
		{"array of strings", conv, []any{"x"}, 422, "each message must be an object"},
		{"string body", conv, `"hello"`, 400, "body must be a message object or an array of message objects"},
		{"invalid JSON", conv, `{"text":`, 400, "invalid JSON body"},
		{"unknown conversation", "5bb0277fd99faf11a3f4a3ff", m{"text": "x"}, 404, "Conversation not found"},
		{"malformed conversation id", "nope", m{"text": "x"}, 400, `invalid conversation id "nope"`},
		{"batch with a bad second message", conv, []any{m{"text": "fine"}, m{"text": "x", "type": "smoke"}}, 422, "invalid message type smoke"},
		{"bad command", conv, cmd("hello"), 422, "a command must start with / (system) or > (bot)"},
	}
	for _, e := range errs {
		t.Run(e.name, func(t *testing.T) {
			assert.Equal(t, e.msg, postFails(t, srv, e.status, srv.Token, e.path, e.body))
			assert.Len(t, srv.List("messages"), before, "nothing stored")
		})
	}
	t.Run("deleting a message removes it from its conversation", func(t *testing.T) {
		id := post(t, srv, srv.Token, conv, m{"text": "oops"})["id"].(string)
		mustCall(t, srv, 204, "DELETE", "messages/"+id, srv.Token, nil)
		assert.NotContains(t, getDoc(t, srv, "conversations", conv)["messages"], id)
	})
}

// TestOutboundAutoAccept follows "Outbound Messaging"
// (https://developers.chatshipper.com/docs/messaging-outbound), whose example
// creates a contact conversation with an agent message naming a touchpoint:
// "The first message needs to provide a touchpoint, as a
// conversation.touchpoint is not specified. [...] The agent (no user
// specified, so defaulting to the API key owner) accepts the conversation as
// a result of the message, so joins with participant flags 'active' and
// 'accepted' set. The conversation status is set to 'active'."
func TestOutboundAutoAccept(t *testing.T) {
	t.Parallel()
	profile := func(n int) m {
		return m{"profile": m{"name": "John Johnson", "telephone": fmt.Sprintf("+3164628099%d", n)}}
	}
	tests := []struct {
		name string
		// body builds the create request; poster is who should accept ("" = nobody).
		body           func(sd Seed) m
		token          func(srv *Server) string
		poster         func(sd Seed) string
		wantStatus     string
		wantTouchpoint any
	}{
		{"the documented example: a bot's API key, role agent, the first message names the touchpoint",
			func(sd Seed) m {
				return m{"organization": sd.OrganizationID, "type": "contact", "contact": profile(1), "messages": []any{
					m{"text": "Hey there. Click link", "touchpoint": "sms", "role": "agent"},
					m{"text": "Click link", "role": "agent"},
				}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return sd.BotUserID }, "active", "sms"},
		{"an agent's token",
			func(sd Seed) m {
				return m{"type": "contact", "contact": profile(2), "messages": []any{m{"text": "Hello", "touchpoint": "email"}}}
			},
			func(srv *Server) string { return srv.AgentToken }, func(sd Seed) string { return sd.AgentUserIDs[0] }, "active", "email"},
		{"on behalf of an agent",
			func(sd Seed) m {
				return m{"type": "contact", "contact": profile(3), "messages": []any{
					m{"text": "Hello", "touchpoint": "whatsapp", "role": "agent", "user": sd.AgentUserIDs[1]}}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return sd.AgentUserIDs[1] }, "active", "whatsapp"},
		{"the conversation names the touchpoint",
			func(sd Seed) m {
				return m{"type": "contact", "contact": profile(4), "touchpoint": "sms", "messages": []any{m{"text": "Hello", "role": "agent"}}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return sd.BotUserID }, "active", "sms"},
		{"no touchpoint anywhere: stored, nothing changes",
			func(sd Seed) m {
				return m{"type": "contact", "contact": profile(5), "messages": []any{m{"text": "Hello", "role": "agent"}}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return "" }, "closed", nil},
		{"a backchannel line is not consumer-facing",
			func(sd Seed) m {
				return m{"type": "contact", "contact": profile(6), "messages": []any{
					m{"text": "Note", "role": "agent", "touchpoint": "sms", "isBackchannel": true}}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return "" }, "closed", nil},
		{"a bot-role line is not consumer-facing",
			func(sd Seed) m {
				return m{"type": "contact", "contact": profile(7), "messages": []any{m{"text": "Note", "touchpoint": "sms"}}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return "" }, "closed", nil},
		{"a team conversation has no consumer",
			func(sd Seed) m {
				return m{"messages": []any{m{"text": "Hello", "role": "agent", "touchpoint": "sms"}}}
			},
			func(srv *Server) string { return srv.Token }, func(sd Seed) string { return "" }, "closed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t)
			sd := srv.Seed
			got := newConv(t, srv, tc.token(srv), tc.body(sd))
			assert.Equal(t, tc.wantStatus, got["status"], "active from the start")
			assert.Equal(t, tc.wantTouchpoint, got["touchpoint"])
			if poster := tc.poster(sd); poster != "" {
				assert.Equal(t, [3]bool{false, true, true}, flags(t, got, poster), "joins active and accepted")
				assert.Equal(t, []any{}, got["channels"])
			}
			assert.Equal(t, got, getDoc(t, srv, "conversations", got["id"].(string)))
		})
	}

	t.Run("only the first consumer-facing message", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTest(t)
		sd := srv.Seed
		alice, bob := sd.AgentUserIDs[0], sd.AgentUserIDs[1]
		conv := newConv(t, srv, srv.AgentToken, m{"contact": profile(8), "messages": []any{
			m{"text": "Hi, following up", "touchpoint": "sms"}, cmd("/leave")}})
		id := conv["id"].(string)
		require.Equal(t, "closed", conv["status"], "/leave after the outbound line, unanswered by nobody: closed")
		post(t, srv, srv.Token, id, m{"text": "Another line", "role": "agent", "user": bob, "touchpoint": "email"})
		conv = getDoc(t, srv, "conversations", id)
		assert.Equal(t, "closed", conv["status"], "a later line accepts nothing")
		assert.Equal(t, "sms", conv["touchpoint"], "nor moves the touchpoint")
		assert.Equal(t, [3]bool{false, false, false}, flags(t, conv, alice))
	})
	t.Run("a contact wrote first: the first outbound line accepts", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTest(t)
		conv := newConv(t, srv, srv.Token, m{"contact": profile(9), "touchpoint": "web",
			"messages": []any{m{"text": "Anyone?", "role": "contact"}}})
		require.Equal(t, "queued", conv["status"])
		post(t, srv, srv.AgentToken, conv["id"].(string), m{"text": "Yes, how can I help?"})
		conv = getDoc(t, srv, "conversations", conv["id"].(string))
		assert.Equal(t, "active", conv["status"])
		assert.Equal(t, [3]bool{false, true, true}, flags(t, conv, srv.Seed.AgentUserIDs[0]))
		assert.Equal(t, []any{}, conv["channels"])
	})
	t.Run("a touchpoint that is not one word is refused", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTest(t)
		id := newConv(t, srv, srv.Token, m{"contact": profile(10)})["id"].(string)
		for _, tp := range []any{"e mail", 5, true} {
			assert.Equal(t, "touchpoint must be one word, such as web, email, sms or facebook",
				postFails(t, srv, 422, srv.Token, id, m{"text": "x", "role": "agent", "touchpoint": tp}), "%v", tp)
		}
	})
}

// TestRefusedRequestConsumesNothing: a request refused half-way leaves the
// id counter and the seeded generator (names, slugs, secrets) as it found
// them, so two servers with the same seed that accept the same requests give
// the same ids, whatever each refused in between.
func TestRefusedRequestConsumesNothing(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	fresh, _ := newTest(t)
	refused := []struct {
		path string
		body any
	}{
		{"conversations", m{"messages": []any{m{"text": "stored, then undone"}, m{"text": "x", "type": "sms"}}}},
		{"conversations", m{"contact": m{"profile": m{"email": "erin@example.com"}}, "messages": []any{m{"text": "/frobnicate", "type": "command"}}}},
		{"services", m{"name": "hook", "type": "webhook", "params": m{"url": "ftp://nowhere"}}},
	}
	for _, r := range refused {
		res := call(t, srv, "POST", r.path, srv.AdminToken, r.body)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", r.path, res.Raw)
	}
	next := func(s *Server) m {
		c := newConv(t, s, s.Token, m{"messages": []any{m{"text": "next"}}})
		return m{"id": c["id"], "name": c["name"], "slug": c["slug"], "messages": c["messages"]}
	}
	assert.Equal(t, next(fresh), next(srv))
}
