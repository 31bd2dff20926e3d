package chatshippertest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLifecycleContactConversation walks a consumer conversation through
// every state and participant command, checking the state after each step.
func TestLifecycleContactConversation(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	alice, bob := sd.AgentUserIDs[0], sd.AgentUserIDs[1]
	bobToken := srv.IssueToken(bob, "agent", 0)
	orgChans := []any{sd.ChannelIDs[0], sd.ChannelIDs[1]}
	created := newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"email": "c@example.com"}},
		"messages": []any{m{"text": "Anyone there?", "role": "contact"}}})
	id := created["id"].(string)
	conv := func() map[string]any { return getDoc(t, srv, "conversations", id) }
	contactMsg := m{"text": "Hello?", "role": "contact"}

	type state struct {
		status   string
		channels []any
	}
	check := func(step string, want state, parts map[string][3]bool) {
		t.Helper()
		c := conv()
		assert.Equal(t, want.status, c["status"], step)
		assert.Equal(t, want.channels, c["channels"], step)
		assert.Equal(t, []any{}, c["channelsOffline"], step)
		for user, f := range parts {
			assert.Equal(t, f, flags(t, c, user), "%s: participant %s (inbox, active, accepted)", step, user)
		}
	}
	check("created", state{"queued", orgChans}, nil)

	post(t, srv, srv.AgentToken, id, cmd("/join"))
	check("alice joins", state{"queued", orgChans}, map[string][3]bool{alice: {false, true, false}})

	post(t, srv, srv.AgentToken, id, cmd("/accept"))
	check("alice accepts", state{"active", []any{}}, map[string][3]bool{alice: {false, true, true}})

	post(t, srv, srv.Token, id, contactMsg)
	check("contact writes while active", state{"active", []any{}}, nil)

	post(t, srv, bobToken, id, cmd("/join"))
	check("bob joins", state{"active", []any{}}, map[string][3]bool{bob: {false, true, false}})

	post(t, srv, srv.AgentToken, id, cmd("/leave"))
	check("alice leaves with the contact unanswered", state{"queued", orgChans},
		map[string][3]bool{alice: {false, false, false}, bob: {false, true, false}})

	post(t, srv, srv.AgentToken, id, cmd("/accept"))
	post(t, srv, srv.AgentToken, id, m{"text": "How can I help?"})
	check("alice accepts and answers", state{"active", []any{}}, map[string][3]bool{alice: {false, true, true}})

	post(t, srv, srv.Token, id, cmd("/leave", "user", alice))
	check("the bot makes alice leave after her answer", state{"closed", []any{}},
		map[string][3]bool{alice: {false, false, false}})

	post(t, srv, srv.Token, id, contactMsg)
	check("contact writes on a closed conversation", state{"queued", orgChans}, nil)

	post(t, srv, srv.Token, id, cmd("/accept", "user", bob))
	check("bot accepts on bob's behalf", state{"active", []any{}}, map[string][3]bool{bob: {false, true, true}})
	post(t, srv, bobToken, id, m{"text": "Done", "type": "card"})
	post(t, srv, bobToken, id, cmd("/close"))
	check("/close is /leave", state{"closed", []any{}}, map[string][3]bool{bob: {false, false, false}})

	post(t, srv, srv.Token, id, contactMsg)
	post(t, srv, srv.AgentToken, id, cmd("/accept"))
	post(t, srv, srv.AgentToken, id, cmd("/block"))
	check("block", state{"closed", []any{}}, map[string][3]bool{alice: {false, false, false}, bob: {false, false, false}})
	assert.Equal(t, true, getDoc(t, srv, "contacts", created["contact"].(string))["blocked"])
	assert.Equal(t, "the contact of this conversation is blocked", postFails(t, srv, 422, srv.Token, id, contactMsg))
}

func TestTeamConversationInbox(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	alice, bob := sd.AgentUserIDs[0], sd.AgentUserIDs[1]
	bobToken := srv.IssueToken(bob, "agent", 0)
	c := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Review please"},
		cmd("/assign", "meta", m{"users": []any{alice, bob}})}})
	id := c["id"].(string)
	assert.Equal(t, "queued", c["status"])
	assert.Equal(t, [3]bool{false, false, false}, flags(t, c, sd.BotUserID))
	assert.Equal(t, [3]bool{true, false, false}, flags(t, c, alice))
	assert.Equal(t, [3]bool{true, false, false}, flags(t, c, bob))

	post(t, srv, srv.AgentToken, id, cmd("/accept"))
	c = getDoc(t, srv, "conversations", id)
	assert.Equal(t, "active", c["status"])
	assert.Equal(t, [3]bool{false, true, true}, flags(t, c, alice), "accepting clears the inbox flag")

	post(t, srv, bobToken, id, m{"text": "I'll have a look too"})
	c = getDoc(t, srv, "conversations", id)
	assert.Equal(t, [3]bool{true, false, false}, flags(t, c, sd.BotUserID), "non-active participants get the inbox flag")
	assert.Equal(t, [3]bool{false, true, true}, flags(t, c, alice), "active participants do not")
	assert.Equal(t, "active", c["status"])

	post(t, srv, srv.AgentToken, id, cmd("/leave"))
	assert.Equal(t, "closed", getDoc(t, srv, "conversations", id)["status"], "no contact messages: closed")

	post(t, srv, srv.Token, id, cmd("/assign", "meta", m{"users": []any{sd.AdminUserID}}))
	c = getDoc(t, srv, "conversations", id)
	assert.Equal(t, "queued", c["status"])
	assert.Equal(t, [3]bool{true, false, false}, flags(t, c, sd.AdminUserID), "assigning adds the participant")
	assert.Equal(t, "admin", part(t, c, sd.AdminUserID)["role"])

	for _, bad := range []m{
		cmd("/assign"),
		cmd("/assign", "meta", m{"users": []any{}}),
		cmd("/assign", "meta", m{"users": "x"}),
	} {
		assert.Equal(t, "meta.users must be a non-empty array of user ids", postFails(t, srv, 422, srv.Token, id, bad))
	}
	assert.Equal(t, "User 5bb0277fd99faf11a3f4a3ff not found", postFails(t, srv, 422, srv.Token, id,
		cmd("/assign", "meta", m{"users": []any{bob, "5bb0277fd99faf11a3f4a3ff"}})))
	assert.Equal(t, c, getDoc(t, srv, "conversations", id), "a refused command changes nothing")
}

func TestNotifyRouting(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	other := mustCall(t, srv, 201, "POST", "organizations", srv.AdminToken, m{"name": "Other"}).obj(t)["id"].(string)
	otherChan := mustCall(t, srv, 201, "POST", "channels", srv.AdminToken, m{"name": "Other", "organization": other}).obj(t)["id"]
	missing := "5bb0277fd99faf11a3f4a3ff"
	tests := []struct {
		name string
		msg  m
		want []any
		err  string
	}{
		{"organization's channels", cmd("/notify"), []any{sd.ChannelIDs[0], sd.ChannelIDs[1]}, ""},
		{"enqueue alias", cmd("/enqueue"), []any{sd.ChannelIDs[0], sd.ChannelIDs[1]}, ""},
		{"explicit channels", cmd("/notify", "meta", m{"channels": []any{sd.ChannelIDs[1]}}), []any{sd.ChannelIDs[1]}, ""},
		{"other organizations", cmd("/notify", "meta", m{"organizations": []any{other}}), []any{otherChan}, ""},
		{"unknown channel", cmd("/notify", "meta", m{"channels": []any{missing}}), nil, "Channel " + missing + " not found"},
		{"empty channels", cmd("/notify", "meta", m{"channels": []any{}}), nil, "meta.channels must be a non-empty array of channel ids"},
		{"unknown organization", cmd("/notify", "meta", m{"organizations": []any{missing}}), nil, "Organization " + missing + " not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newConv(t, srv, srv.Token, m{})["id"].(string)
			if tt.err != "" {
				assert.Equal(t, tt.err, postFails(t, srv, 422, srv.Token, id, tt.msg))
				assert.Equal(t, "closed", getDoc(t, srv, "conversations", id)["status"])
				return
			}
			post(t, srv, srv.Token, id, tt.msg)
			c := getDoc(t, srv, "conversations", id)
			assert.Equal(t, "queued", c["status"])
			assert.Equal(t, tt.want, c["channels"])
		})
	}
	t.Run("an active conversation stays active", func(t *testing.T) {
		id := newConv(t, srv, srv.Token, m{"messages": []any{cmd("/accept")}})["id"].(string)
		post(t, srv, srv.Token, id, cmd("/notify"))
		c := getDoc(t, srv, "conversations", id)
		assert.Equal(t, "active", c["status"])
		assert.Equal(t, []any{}, c["channels"])
	})
}

func TestSetCommand(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	id := newConv(t, srv, srv.Token, m{"meta": m{"keep": "me"}})["id"].(string)
	steps := []struct {
		name  string
		msg   m
		check m // expected top-level fields after the step
		err   string
	}{
		{"name", cmd("/set @name Account Review"), m{"name": "Account Review"}, ""},
		{"category by name", cmd("/set @category Used Car"), m{"category": "Used Car", "categoryIndex": float64(1)}, ""},
		{"category by index", cmd("/set @category 0"), m{"category": "General", "categoryIndex": float64(0)}, ""},
		{"touchpoint", cmd("/set @touchpoint email"), m{"touchpoint": "email"}, ""},
		{"language", cmd("/set @language de"), m{"language": "de"}, ""},
		{"meta key", cmd("/set engagement high"), m{"meta": m{"keep": "me", "engagement": "high"}}, ""},
		{"meta value with spaces", cmd("/set greeting hello  world"), m{"meta": m{"keep": "me", "engagement": "high", "greeting": "hello  world"}}, ""},
		{"meta object", cmd("/set", "meta", m{"engagement": "low", "scores": []any{8, 7, 6.5}}),
			m{"meta": m{"keep": "me", "engagement": "low", "greeting": "hello  world", "scores": []any{float64(8), float64(7), 6.5}}}, ""},
		{"category out of range", cmd("/set @category 2"), nil, "category index 2 out of range (the organization has 2 categories)"},
		{"unknown category", cmd("/set @category Boats"), nil, `unknown category "Boats"`},
		{"bad touchpoint", cmd("/set @touchpoint fax"), nil, "touchpoint must be one of web, email, sms, facebook"},
		{"bad language", cmd("/set @language deu"), nil, "language must be a two-letter lowercase code"},
		{"unknown property", cmd("/set @color red"), nil, "unknown conversation property @color (one of @name, @category, @touchpoint, @language)"},
		{"empty name", cmd("/set @name"), nil, "/set @name needs a name"},
		{"nothing to set", cmd("/set"), nil, "/set needs a property and value, or a meta object"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := getDoc(t, srv, "conversations", id)
			if s.err != "" {
				assert.Equal(t, s.err, postFails(t, srv, 422, srv.Token, id, s.msg))
				assert.Equal(t, before, getDoc(t, srv, "conversations", id))
				return
			}
			post(t, srv, srv.Token, id, s.msg)
			c := getDoc(t, srv, "conversations", id)
			for k, v := range s.check {
				assert.Equal(t, v, c[k], k)
			}
			assert.Equal(t, before["status"], c["status"], "/set does not change the status")
		})
	}
}

func TestActionLikeAndComment(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	alice := sd.AgentUserIDs[0]
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	target := post(t, srv, srv.Token, id, m{"text": "No need, I could easily find it on your website"})["id"].(string)
	likes := func() any { return getDoc(t, srv, "messages", target)["likes"] }
	like := cmd("/action like", "meta", m{"message": target})

	post(t, srv, srv.AgentToken, id, like)
	assert.Equal(t, []any{alice}, likes())
	post(t, srv, srv.AgentToken, id, like)
	assert.Equal(t, []any{alice}, likes(), "no duplicate likes")
	post(t, srv, srv.Token, id, like)
	assert.Equal(t, []any{alice, sd.BotUserID}, likes())

	c := post(t, srv, srv.AgentToken, id, cmd("/action comment Our website redesign really works out!", "meta", m{"message": target}))
	assert.Equal(t, []any{m{"user": alice, "message": c["id"], "text": "Our website redesign really works out!"}},
		getDoc(t, srv, "messages", target)["comments"])

	t.Run("limits", func(t *testing.T) {
		full := make([]any, maxLikes)
		for i := range full {
			full[i] = fmt.Sprintf("%024x", i)
		}
		comments := make([]any, maxComments)
		for i := range comments {
			comments[i] = m{"user": alice, "message": target, "text": "c"}
		}
		busy := srv.Put("messages", m{"conversation": id, "type": "chat", "text": "popular", "likes": full, "comments": comments})
		assert.Equal(t, "a message can have at most 100 likes",
			postFails(t, srv, 422, srv.Token, id, cmd("/action like", "meta", m{"message": busy})))
		assert.Equal(t, "a message can have at most 10 comments",
			postFails(t, srv, 422, srv.Token, id, cmd("/action comment one more", "meta", m{"message": busy})))
		d := getDoc(t, srv, "messages", busy)
		assert.Len(t, d["likes"], 100)
		assert.Len(t, d["comments"], 10)
	})
	errs := []struct {
		msg  m
		want string
	}{
		{cmd("/action like"), "/action needs meta.message"},
		{cmd("/action like", "meta", m{"message": "5bb0277fd99faf11a3f4a3ff"}), "Message 5bb0277fd99faf11a3f4a3ff not found"},
		{cmd("/action comment", "meta", m{"message": target}), "/action comment needs a text"},
		{cmd("/action poke", "meta", m{"message": target}), `unknown action "poke" (like or comment)`},
	}
	for _, e := range errs {
		assert.Equal(t, e.want, postFails(t, srv, 422, srv.Token, id, e.msg))
	}
}

func TestFormsFieldsAndSend(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	form := sd.FormID
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	conv := func() map[string]any { return getDoc(t, srv, "conversations", id) }
	activate := m{"type": "form", "text": "+Contact details", "meta": m{"form": form}}
	field := func(key, value string) m {
		return m{"type": "field", "text": value, "meta": m{"form": form, "key": key}}
	}

	post(t, srv, srv.Token, id, activate)
	post(t, srv, srv.Token, id, activate)
	assert.Equal(t, []any{m{"form": form, "categoryIndex": float64(0), "values": m{}}}, conv()["forms"], "activated once")

	post(t, srv, srv.Token, id, field("name", "John Doe"))
	assert.Equal(t, m{"name": "John Doe"}, conv()["forms"].([]any)[0].(map[string]any)["values"])

	n := len(conv()["messages"].([]any))
	post(t, srv, srv.Token, id, cmd("/send"))
	c := conv()
	assert.Len(t, c["forms"], 1, "an incomplete form stays")
	assert.Equal(t, []any{}, c["results"])
	assert.Len(t, c["messages"], n+1, "no results message")
	assert.Equal(t, "Form "+form+" is not active or not complete",
		postFails(t, srv, 422, srv.Token, id, cmd("/send", "meta", m{"form": form})))

	post(t, srv, srv.Token, id, m{"type": "field", "text": ".email john@example.com", "meta": m{"form": form}})
	send := post(t, srv, srv.Token, id, cmd("/send", "meta", m{"form": form}))
	c = conv()
	msgs := c["messages"].([]any)
	require.Equal(t, send["id"], msgs[len(msgs)-2])
	resultsID := msgs[len(msgs)-1].(string)
	values := m{"name": "John Doe", "email": "john@example.com"}
	assert.Equal(t, []any{}, c["forms"])
	assert.Equal(t, []any{m{"form": form, "name": "Contact details", "categoryIndex": float64(0), "values": values,
		"message": resultsID, "createdAt": c["updatedAt"]}}, c["results"])
	rm := getDoc(t, srv, "messages", resultsID)
	assert.Equal(t, "results", rm["type"])
	assert.Equal(t, "Results: Contact details", rm["text"])
	assert.Equal(t, "bot", rm["role"])
	assert.Equal(t, []any{m{"form": form, "name": "Contact details", "categoryIndex": float64(0), "values": values}}, rm["results"])

	t.Run("deactivate", func(t *testing.T) {
		post(t, srv, srv.Token, id, activate)
		post(t, srv, srv.Token, id, m{"type": "form", "text": "-Contact details", "meta": m{"form": form}})
		assert.Equal(t, []any{}, conv()["forms"])
	})
	errs := []struct {
		name string
		msg  m
		want string
	}{
		{"no sign", m{"type": "form", "text": "Contact details", "meta": m{"form": form}}, "a form message text starts with + (activate) or - (deactivate)"},
		{"no form", m{"type": "form", "text": "+X"}, "meta.form is required"},
		{"unknown form", m{"type": "form", "text": "+X", "meta": m{"form": "5bb0277fd99faf11a3f4a3ff"}}, "Form 5bb0277fd99faf11a3f4a3ff not found"},
		{"not in category", m{"type": "form", "text": "+X", "meta": m{"form": form, "categoryIndex": 1}}, "Form " + form + " is not assigned to category 1"},
		{"category by name", m{"type": "form", "text": "+X", "meta": m{"form": form, "category": "Used Car"}}, "Form " + form + " is not assigned to category 1"},
		{"bad category index", m{"type": "form", "text": "+X", "meta": m{"form": form, "categoryIndex": 9}}, "category index 9 out of range"},
		{"field of inactive form", field("name", "x"), "Form " + form + " is not active in this conversation"},
		{"field without key", m{"type": "field", "text": "x", "meta": m{"form": form}}, "meta.key is required"},
		{"unknown field", field("age", "3"), "form " + form + ` has no field "age"`},
		{"send unknown form", cmd("/send", "meta", m{"form": "5bb0277fd99faf11a3f4a3ff"}), "Form 5bb0277fd99faf11a3f4a3ff not found"},
	}
	for _, e := range errs {
		t.Run(e.name, func(t *testing.T) {
			assert.Equal(t, e.want, postFails(t, srv, 422, srv.Token, id, e.msg))
		})
	}
}

func TestImportInterleavesMessages(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	at := func(d time.Duration) { clk.t = newClock().t.Add(d) }
	at(0)
	origin := newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"email": "dup@example.com"}},
		"messages": []any{m{"text": "o1", "role": "contact"}}})
	oid := origin["id"].(string)
	o1 := origin["messages"].([]any)[0].(string)
	at(time.Second)
	target := newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"telephone": "+31600000000"}},
		"messages": []any{m{"text": "x1", "role": "contact"}}})
	tid := target["id"].(string)
	x1 := target["messages"].([]any)[0].(string)
	at(2 * time.Second)
	o2 := post(t, srv, srv.Token, oid, m{"text": "o2", "role": "agent"})["id"].(string)
	at(3 * time.Second)
	x2 := post(t, srv, srv.Token, tid, m{"text": "x2", "role": "agent"})["id"].(string)
	at(4 * time.Second)
	imp := post(t, srv, srv.AgentToken, tid, cmd("/import "+oid))["id"].(string)

	o := getDoc(t, srv, "conversations", oid)
	assert.Equal(t, "TRANSFERRED", o["name"])
	assert.Equal(t, "archived", o["status"])
	assert.Equal(t, []any{o1, o2}, o["messages"], "the origin keeps its messages")

	tgt := getDoc(t, srv, "conversations", tid)
	msgs := tgt["messages"].([]any)
	require.Len(t, msgs, 5)
	c1 := getDoc(t, srv, "messages", o1)["meta"].(map[string]any)["_target"]
	c2 := getDoc(t, srv, "messages", o2)["meta"].(map[string]any)["_target"]
	assert.Equal(t, []any{c1, x1, c2, x2, imp}, msgs, "interleaved by creation time")
	for i, src := range []string{o1, o2} {
		cp := getDoc(t, srv, "messages", []any{c1, c2}[i].(string))
		orig := getDoc(t, srv, "messages", src)
		assert.Equal(t, m{"_source": src}, cp["meta"])
		assert.Equal(t, float64(2), cp["version"])
		assert.Equal(t, tid, cp["conversation"])
		assert.Equal(t, orig["createdAt"], cp["createdAt"])
		assert.Equal(t, orig["text"], cp["text"])
	}
	assert.Equal(t, "queued", tgt["status"], "the target's status is untouched")

	assert.Equal(t, "a conversation cannot import itself", postFails(t, srv, 422, srv.Token, tid, cmd("/import "+tid)))
	assert.Equal(t, "Conversation 5bb0277fd99faf11a3f4a3ff not found", postFails(t, srv, 422, srv.Token, tid, cmd("/import 5bb0277fd99faf11a3f4a3ff")))
	assert.Equal(t, "/import needs the id of the origin conversation", postFails(t, srv, 422, srv.Token, tid, cmd("/import")))
}

func TestBotAndUnknownCommands(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	id := newConv(t, srv, srv.Token, m{})["id"].(string)
	before := getDoc(t, srv, "conversations", id)
	got := post(t, srv, srv.AgentToken, id, cmd(">onboard"))
	assert.Equal(t, ">onboard", getDoc(t, srv, "messages", got["id"].(string))["text"], "stored")
	after := getDoc(t, srv, "conversations", id)
	delete(after, "messages")
	delete(after, "updatedAt")
	delete(before, "messages")
	delete(before, "updatedAt")
	assert.Equal(t, before, after, "ignored by the system")
	for _, text := range []string{"/dance", "/DANCE now"} {
		r := call(t, srv, http.MethodPost, "conversations/"+id+"/messages", srv.Token, cmd(text))
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	}
	assert.Equal(t, "Unknown command /dance", postFails(t, srv, 422, srv.Token, id, cmd("/dance")))
	assert.Equal(t, "/block needs a conversation with a contact", postFails(t, srv, 422, srv.Token, id, cmd("/block")))
}

// TestMentionTargetUser follows the documentation of mentions
// (https://developers.web1on1.chat/messaging/commentstagsandsearch): a
// mention "needs meta.targetUser (a user id) or meta.targetOrganization";
// "targeting a user sets that participant's inbox flag and notifies them";
// the text "may start with @<displayName or name>; that prefix is stripped
// and the system stores meta.targetName".
func TestMentionTargetUser(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	alice, bob := sd.AgentUserIDs[0], sd.AgentUserIDs[1]
	c := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Review please"}, cmd("/accept")}})
	id := c["id"].(string)
	mention := func(text string, meta m) m { return m{"type": "mention", "text": text, "meta": meta} }

	got := post(t, srv, srv.Token, id, mention("@Alice Agent, please check the offer", m{"targetUser": alice}))
	assert.Equal(t, "please check the offer", got["text"], "the @name prefix is stripped")
	assert.Equal(t, m{"targetUser": alice, "targetName": "Alice Agent"}, got["meta"])
	conv := getDoc(t, srv, "conversations", id)
	assert.Equal(t, [3]bool{true, false, false}, flags(t, conv, alice), "the target joins with the inbox flag")
	assert.Equal(t, "active", conv["status"], "a mention does not change the status")
	stored := getDoc(t, srv, "messages", got["id"].(string))
	assert.Equal(t, got, stored)

	tests := []struct {
		name, text, want string
		meta             m
	}{
		{"no prefix", "have a look", "have a look", m{"targetUser": bob}},
		{"prefix of another name is kept", "@Alice Agentina look", "@Alice Agentina look", m{"targetUser": alice}},
		{"case does not matter", "@alice agent: look", "look", m{"targetUser": alice}},
		{"prefix alone is kept", "@Bob Agent", "@Bob Agent", m{"targetUser": bob}},
		{"chipchat's targetBot, a list", "@Awesome Bot run the check", "run the check", m{"targetBot": []any{sd.BotUserID}}},
		{"a list of users", "@Bob Agent both of you", "both of you", m{"targetUser": []any{bob, alice}}},
	}
	for _, tc := range tests {
		got := post(t, srv, srv.AgentToken, id, mention(tc.text, tc.meta))
		assert.Equal(t, tc.want, got["text"], tc.name)
		assert.Equal(t, got["meta"].(map[string]any)["targetName"], map[string]string{
			alice: "Alice Agent", bob: "Bob Agent", sd.BotUserID: "Awesome Bot"}[firstTarget(tc.meta)], tc.name)
	}
	conv = getDoc(t, srv, "conversations", id)
	assert.True(t, flags(t, conv, bob)[0], "bob was mentioned")
	assert.Equal(t, [3]bool{true, true, true}, flags(t, conv, sd.BotUserID), "an active participant gets the inbox flag too")

	for _, bad := range []struct {
		meta m
		msg  string
	}{
		{m{}, "a mention needs meta.targetUser or meta.targetOrganization"},
		{m{"targetUser": nil}, "a mention needs meta.targetUser or meta.targetOrganization"},
		{m{"targetUser": []any{}}, "meta.targetUser must be a user id or a non-empty array of user ids"},
		{m{"targetUser": 7}, "meta.targetUser must be a user id or a non-empty array of user ids"},
		{m{"targetUser": "5bb0277fd99faf11a3f4a3ff"}, "User 5bb0277fd99faf11a3f4a3ff not found"},
		{m{"targetOrganization": "5bb0277fd99faf11a3f4a3ff"}, "Organization 5bb0277fd99faf11a3f4a3ff not found"},
	} {
		before := getDoc(t, srv, "conversations", id)
		assert.Equal(t, bad.msg, postFails(t, srv, 422, srv.Token, id, mention("look", bad.meta)), "%v", bad.meta)
		assert.Equal(t, before, getDoc(t, srv, "conversations", id), "a refused mention changes nothing")
	}
}

func firstTarget(meta m) string {
	for _, k := range []string{"targetUser", "targetBot"} {
		switch v := meta[k].(type) {
		case string:
			return v
		case []any:
			return v[0].(string)
		}
	}
	return ""
}

// TestMentionTargetOrganization: "targeting an organization runs that
// organization's routing rules as if it were an inbound consumer message"
// (https://developers.web1on1.chat/messaging/commentstagsandsearch). The
// fake's routing notifies the organization's channels (see the package doc).
func TestMentionTargetOrganization(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	branch := mustCall(t, srv, 201, "POST", "organizations", srv.AdminToken,
		m{"name": "Branch", "displayName": "Acme Branch", "parent": sd.OrganizationID}).obj(t)
	branchID := branch["id"].(string)
	ch := mustCall(t, srv, 201, "POST", "channels", srv.AdminToken, m{"name": "Branch desk", "organization": branchID}).obj(t)

	id := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Hello"}}})["id"].(string)
	require.Equal(t, "closed", getDoc(t, srv, "conversations", id)["status"])
	got := post(t, srv, srv.AgentToken, id, m{"type": "mention", "text": "@Acme Branch can you take this?",
		"meta": m{"targetOrganization": branchID}})
	assert.Equal(t, "can you take this?", got["text"])
	assert.Equal(t, "Acme Branch", got["meta"].(map[string]any)["targetName"], "an organization's displayName")
	conv := getDoc(t, srv, "conversations", id)
	assert.Equal(t, "queued", conv["status"], "routing queues the conversation")
	assert.Equal(t, []any{ch["id"]}, conv["channels"], "on the target organization's channels only")

	// As with an inbound consumer message, an active conversation stays active.
	post(t, srv, srv.AgentToken, id, cmd("/accept"))
	post(t, srv, srv.AgentToken, id, m{"type": "mention", "text": "@Branch FYI", "meta": m{"targetOrganization": branchID}})
	conv = getDoc(t, srv, "conversations", id)
	assert.Equal(t, "active", conv["status"])
	assert.Equal(t, []any{}, conv["channels"])
}

// TestTagNormalized: "#hashTag, hash !! tag#tag; #hash" "is stored as
// hashTag hash tagtag" and "the response also contains empty actions and
// results arrays" (https://developers.web1on1.chat/messaging/commentstagsandsearch).
func TestTagNormalized(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	id := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "Hello"}}})["id"].(string)
	got := post(t, srv, srv.AgentToken, id, m{"type": "tag", "text": "#hashTag, hash !! tag#tag; #hash"})
	assert.Equal(t, "hashTag hash tagtag", got["text"])
	assert.Equal(t, []any{}, got["actions"])
	assert.Equal(t, []any{}, got["results"])
	assert.Equal(t, got, getDoc(t, srv, "messages", got["id"].(string)))

	for text, want := range map[string]string{
		"#Used_Car #used_car #2024": "Used_Car 2024",
		"#één, #twee":               "één twee",
		"plain words":               "plain words",
	} {
		assert.Equal(t, want, post(t, srv, srv.AgentToken, id, m{"type": "tag", "text": text})["text"], text)
	}
	assert.Equal(t, "a tag message needs at least one word", postFails(t, srv, 422, srv.AgentToken, id, m{"type": "tag", "text": "# !! ;"}))
	conv := getDoc(t, srv, "conversations", id)
	assert.Equal(t, "closed", conv["status"], "a tag is no chat line: nobody is called in")
	assert.Equal(t, [3]bool{false, false, false}, flags(t, conv, srv.Seed.BotUserID))
}
