package chatshippertest

import (
	"net/http"
	"slices"
	"strings"
	"unicode"
)

// Conversations and messages: creation, the message pipeline and the status
// rules of "Conversation Lifecycle" (https://developers.chatshipper.com/docs/messaging-introduction). Commands are in commands.go.

// conversationReserved are keys of a create body the server sets itself.
var conversationReserved = []string{"id", "_id", "createdAt", "updatedAt", "messages", "participants",
	"status", "slug", "url", "createdBy", "channels", "channelsOffline", "forms", "results",
	"contact", "organization", "orgPath", "type", "name"}

// messageReserved are keys of a message body the server sets itself.
var messageReserved = []string{"id", "_id", "createdAt", "updatedAt", "conversation", "organization",
	"orgPath", "version", "likes", "comments"}

// validMessageTypes are the twelve message types (https://developers.chatshipper.com/docs/messaging-types).
var validMessageTypes = []string{"chat", "card", "postback", "mention", "tag", "search", "command",
	"form", "field", "results", "report", "status"}

// createConversation serves POST /v2/conversations: 201 with the new
// conversation, or 200 when a contact with the same e-mail or telephone
// already exists and the messages were appended to its conversation.
func (s *Server) createConversation(w http.ResponseWriter, cl *caller, body []byte) error {
	in, err := decodeObject(body)
	if err != nil {
		return err
	}
	var msgs []doc
	if v, ok := in["messages"]; ok {
		a, isArr := v.([]any)
		if !isArr {
			return errf(http.StatusUnprocessableEntity, "messages must be an array of message objects")
		}
		for _, e := range a {
			m, isObj := e.(map[string]any)
			if !isObj {
				return errf(http.StatusUnprocessableEntity, "messages must be an array of message objects")
			}
			msgs = append(msgs, m)
		}
	}
	status := http.StatusCreated
	var out doc
	err = s.update(func(t *tx) error {
		conv, created, err := s.newConversation(t, cl, in)
		if err != nil {
			return err
		}
		if !created {
			status = http.StatusOK
		}
		for _, m := range msgs {
			if _, err := s.postMessage(t, cl, conv, m); err != nil {
				return err
			}
		}
		out = cloneDoc(conv)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

// newConversation validates a create body and stores the conversation (and
// its contact); created is false when an existing contact's conversation is
// returned instead.
func (s *Server) newConversation(t *tx, cl *caller, in doc) (doc, bool, error) {
	unprocessable := func(format string, args ...any) (doc, bool, error) {
		return nil, false, errf(http.StatusUnprocessableEntity, format, args...)
	}
	orgID := cl.org
	if v, ok := in["organization"]; ok {
		if orgID, ok = v.(string); !ok {
			return unprocessable("organization must be an organization id")
		}
	}
	org, ok := t.get("organizations", orgID)
	if !ok {
		return unprocessable("Organization %s not found", orgID)
	}
	typ := "agent"
	if cl.role == "bot" {
		typ = "bot"
	}
	if v, ok := in["type"]; ok {
		typ, _ = v.(string)
		if !slices.Contains([]string{"contact", "bot", "agent", "system"}, typ) {
			return unprocessable("type must be one of contact, bot, agent or system")
		}
	}
	name := s.fantasyName()
	if v, ok := in["name"]; ok {
		if name, ok = v.(string); !ok || name == "" {
			return unprocessable("name must be a non-empty string")
		}
	}
	if v, ok := in["meta"]; ok {
		if _, isObj := v.(map[string]any); !isObj {
			return unprocessable("meta must be an object")
		}
	}
	var contact doc
	if v, ok := in["contact"]; ok {
		typ = "contact"
		var err error
		if contact, err = s.findOrCreateContact(t, orgID, org, v); err != nil {
			return nil, false, err
		}
		if conv, ok := t.edit("conversations", str(contact, "conversation")); ok {
			return conv, false, nil
		}
	} else if typ == "contact" {
		return unprocessable("a contact conversation needs contact.profile")
	}
	now := formatTime(t.now)
	id := s.newID()
	p, err := s.newParticipant(t, orgID, cl.userID)
	if err != nil {
		return nil, false, err
	}
	slug := s.slug()
	conv := doc{
		"id": id, "organization": orgID, "orgPath": orgPathOf(org), "name": name, "type": typ,
		"slug": slug, "url": "https://s-view.chatshipper.com/c/" + slug, "status": "closed",
		"participants": []any{p}, "messages": []any{}, "channels": []any{}, "channelsOffline": []any{},
		"forms": []any{}, "results": []any{}, "createdBy": cl.userID, "createdAt": now, "updatedAt": now,
	}
	for k, v := range in {
		if !slices.Contains(conversationReserved, k) {
			conv[k] = cloneValue(v)
		}
	}
	if contact != nil {
		conv["contact"] = contact["id"]
		contact["conversation"] = id
		contact["updatedAt"] = now
	}
	t.insert("conversations", conv)
	t.emit("conversations", id, "create", cl.userID)
	return conv, true, nil
}

// findOrCreateContact resolves the contact of a contact conversation: an
// existing contact id, or a profile matched by e-mail (case-insensitive) or
// telephone within the organization, or a new contact. The returned contact
// is editable.
func (s *Server) findOrCreateContact(t *tx, orgID string, org doc, v any) (doc, error) {
	if id, ok := v.(string); ok {
		c, ok := t.edit("contacts", id)
		if !ok {
			return nil, errf(http.StatusUnprocessableEntity, "Contact %s not found", id)
		}
		return c, nil
	}
	in, ok := v.(map[string]any)
	profile := obj(in, "profile")
	if !ok || profile == nil {
		return nil, errf(http.StatusUnprocessableEntity, "contact.profile must be an object")
	}
	email, tel := str(profile, "email"), str(profile, "telephone")
	for _, c := range s.store.all("contacts") {
		if str(c, "organization") != orgID {
			continue
		}
		p := obj(c, "profile")
		if email != "" && strings.EqualFold(str(p, "email"), email) || tel != "" && str(p, "telephone") == tel {
			c, _ = t.edit("contacts", str(c, "id"))
			return c, nil
		}
	}
	now := formatTime(t.now)
	c := cloneDoc(in)
	for _, k := range systemFields {
		delete(c, k)
	}
	c["id"], c["organization"], c["orgPath"] = s.newID(), orgID, orgPathOf(org)
	if _, ok := c["presences"]; !ok {
		c["presences"] = []any{}
	}
	c["createdAt"], c["updatedAt"] = now, now
	t.insert("contacts", c)
	return c, nil
}

// newParticipant builds the participant entry of a user; unknown users are a 422.
func (s *Server) newParticipant(t *tx, orgID, userID string) (map[string]any, error) {
	u, ok := t.get("users", userID)
	if !ok {
		return nil, errf(http.StatusUnprocessableEntity, "User %s not found", userID)
	}
	_, role := userOrg(u, orgID)
	now := formatTime(t.now)
	return map[string]any{
		"user": userID, "name": str(u, "name"), "avatar": str(u, "avatar"), "role": role,
		"unreadCount": float64(0), "inbox": false, "accepted": false, "active": false,
		"createdAt": now, "updatedAt": now,
	}, nil
}

// participant returns the live participant entry of userID, or nil.
func participant(conv doc, userID string) map[string]any {
	for _, e := range arr(conv, "participants") {
		if p, ok := e.(map[string]any); ok && str(p, "user") == userID {
			return p
		}
	}
	return nil
}

// ensureParticipant returns the participant entry of userID, adding it first if needed.
func (s *Server) ensureParticipant(t *tx, conv doc, userID string) (map[string]any, error) {
	if p := participant(conv, userID); p != nil {
		return p, nil
	}
	p, err := s.newParticipant(t, str(conv, "organization"), userID)
	if err != nil {
		return nil, err
	}
	conv["participants"] = append(arr(conv, "participants"), p)
	return p, nil
}

// setFlags updates participant flags, stamping updatedAt.
func setFlags(t *tx, p map[string]any, kv ...any) {
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	p["updatedAt"] = formatTime(t.now)
}

// setStatus changes conversation status, noting the change for webhooks.
func setStatus(t *tx, conv doc, status string) {
	if str(conv, "status") != status {
		conv["status"] = status
		t.markChanged(str(conv, "id"))
	}
}

// queueUnlessActive queues a conversation that is neither active nor archived.
func queueUnlessActive(t *tx, conv doc) {
	if st := str(conv, "status"); st != "active" && st != "archived" {
		setStatus(t, conv, "queued")
	}
}

// anyAccepted reports whether some participant is active and has accepted.
func anyAccepted(conv doc) bool {
	for _, e := range arr(conv, "participants") {
		if p, ok := e.(map[string]any); ok && p["active"] == true && p["accepted"] == true {
			return true
		}
	}
	return false
}

// orgChannels are the channel ids of the given organizations, in id order.
func (s *Server) orgChannels(orgs ...string) []any {
	out := []any{}
	for _, c := range s.store.all("channels") {
		if slices.Contains(orgs, str(c, "organization")) {
			out = append(out, c["id"])
		}
	}
	return out
}

// postMessages serves POST /v2/conversations/{id}/messages (convID set) and
// POST /v2/messages (each message names its conversation). A single object
// answers one object, an array answers an array; the batch is all or nothing.
func (s *Server) postMessages(w http.ResponseWriter, convID string, cl *caller, body []byte) error {
	v, err := decodeBody(body)
	if err != nil {
		return err
	}
	var items []doc
	single := false
	switch x := v.(type) {
	case map[string]any:
		items, single = []doc{x}, true
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return errf(http.StatusUnprocessableEntity, "each message must be an object")
			}
			items = append(items, m)
		}
		if len(items) == 0 {
			return errf(http.StatusUnprocessableEntity, "no messages given")
		}
	default:
		return errf(http.StatusBadRequest, "body must be a message object or an array of message objects")
	}
	var out []any
	err = s.update(func(t *tx) error {
		var ids []string
		for _, m := range items {
			cid := convID
			if cid == "" {
				cid, _ = m["conversation"].(string)
				if !isID(cid) {
					return errf(http.StatusUnprocessableEntity, "conversation is required")
				}
			}
			conv, ok := t.edit("conversations", cid)
			if !ok {
				if convID != "" {
					return errf(http.StatusNotFound, "Conversation not found")
				}
				return errf(http.StatusUnprocessableEntity, "Conversation %s not found", cid)
			}
			msg, err := s.postMessage(t, cl, conv, m)
			if err != nil {
				return err
			}
			ids = append(ids, str(msg, "id"))
		}
		for _, id := range ids {
			m, _ := t.get("messages", id)
			out = append(out, cloneDoc(m))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if single {
		writeJSON(w, http.StatusCreated, out[0])
	} else {
		writeJSON(w, http.StatusCreated, out)
	}
	return nil
}

// postMessage validates, stores and applies one message to conv (which must
// be editable).
func (s *Server) postMessage(t *tx, cl *caller, conv doc, in doc) (doc, error) {
	bad := func(format string, args ...any) (doc, error) {
		return nil, errf(http.StatusUnprocessableEntity, format, args...)
	}
	text, ok := in["text"].(string)
	if !ok || text == "" {
		return bad("text is required")
	}
	typ := "chat"
	if v, ok := in["type"]; ok {
		if typ, _ = v.(string); !slices.Contains(validMessageTypes, typ) {
			return bad("invalid message type %v", v)
		}
	}
	role := cl.msgRole()
	if v, ok := in["role"]; ok {
		if role, _ = v.(string); !slices.Contains([]string{"contact", "agent", "bot", "system"}, role) {
			return bad("invalid message role %v", v)
		}
	}
	user := cl.userID
	if v, ok := in["user"]; ok {
		id, _ := v.(string)
		if _, ok := t.get("users", id); !ok {
			return bad("User %v not found", v)
		}
		user = id
	}
	if v, ok := in["meta"]; ok {
		if _, isObj := v.(map[string]any); !isObj {
			return bad("meta must be an object")
		}
	}
	if v, ok := in["touchpoint"]; ok && v != nil {
		// Any one word: the documentation names sms and email and hints at more.
		if tp, isStr := v.(string); !isStr || strings.ContainsFunc(tp, unicode.IsSpace) {
			return bad("touchpoint must be one word, such as web, email, sms or facebook")
		}
	}
	if role == "contact" {
		if c, ok := t.get("contacts", str(conv, "contact")); ok && c["blocked"] == true {
			return bad("the contact of this conversation is blocked")
		}
	}
	if !t.seeding { // seed data is history, not a bot's traffic
		if err := s.checkLoop(t, cl, str(conv, "id"), typ, text, role, obj(in, "meta")); err != nil {
			return nil, err
		}
	}
	m := cloneDoc(in)
	for _, k := range messageReserved {
		delete(m, k)
	}
	now := formatTime(t.now)
	id := s.newID()
	m["id"], m["conversation"], m["organization"], m["orgPath"] = id, conv["id"], conv["organization"], conv["orgPath"]
	m["type"], m["role"], m["user"], m["text"] = typ, role, user, text
	m["version"], m["createdAt"], m["updatedAt"] = float64(1), now, now
	if role == "contact" && str(conv, "contact") != "" {
		m["contact"] = conv["contact"]
	}
	t.insert("messages", m)
	s.appendMessage(t, conv, id)
	t.emit("messages", id, "create", cl.userID)
	var err error
	switch typ {
	case "command":
		err = s.runCommand(t, cl, conv, m)
	case "form":
		err = s.formMessage(t, conv, m)
	case "field":
		err = s.fieldMessage(t, conv, m)
	case "mention":
		err = s.mentionMessage(t, conv, m)
	case "tag":
		err = tagMessage(m)
	case "status":
	default:
		s.afterMessage(t, conv, m)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Server) appendMessage(t *tx, conv doc, id string) {
	conv["messages"] = append(arr(conv, "messages"), id)
	conv["updatedAt"] = formatTime(t.now)
}

// afterMessage applies the status rules of an ordinary message: a contact
// message on a conversation that is not active queues it and notifies the
// organization's channels; the first consumer-facing message of a contact
// conversation with a touchpoint makes its poster accept (outbound); in team
// conversations every other participant who is not active gets the inbox
// flag.
func (s *Server) afterMessage(t *tx, conv, m doc) {
	st := str(conv, "status")
	if str(conv, "type") == "contact" {
		switch {
		case str(m, "role") == "contact" && st != "active" && st != "archived":
			if len(arr(conv, "channels")) == 0 {
				conv["channels"] = s.orgChannels(str(conv, "organization"))
				t.markChanged(str(conv, "id"))
			}
			setStatus(t, conv, "queued")
		case consumerFacing(m):
			s.outbound(t, conv, m)
		}
		return
	}
	inbox := false
	for _, e := range arr(conv, "participants") {
		p, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if str(p, "user") != str(m, "user") && p["active"] != true && p["inbox"] != true {
			setFlags(t, p, "inbox", true)
			t.markChanged(str(conv, "id"))
		}
		inbox = inbox || p["inbox"] == true
	}
	if inbox {
		queueUnlessActive(t, conv)
	}
}

// consumerFacing reports whether m is a message the consumer of a contact
// conversation receives: a chat or card line with role agent, not in the
// backchannel (https://developers.web1on1.chat/messaging/messagingtoconsumers).
func consumerFacing(m doc) bool {
	typ := str(m, "type")
	return str(m, "role") == "agent" && (typ == "chat" || typ == "card") && m["isBackchannel"] != true
}

// outbound applies "Outbound Messaging"
// (https://developers.chatshipper.com/docs/messaging-outbound) to the
// consumer-facing message m: when it is the conversation's first, the
// touchpoint it names becomes the conversation's (if the conversation has
// none), and, once the conversation has a touchpoint, the message's user
// accepts the conversation as /accept does: active and accepted, out of the
// inbox, channels cleared, status active. A first message without a
// touchpoint in a conversation without one is stored and changes nothing:
// the documentation says it needs one, not what happens without.
func (s *Server) outbound(t *tx, conv, m doc) {
	if st := str(conv, "status"); st == "archived" || !s.firstConsumerFacing(t, conv, str(m, "id")) {
		return
	}
	if str(conv, "touchpoint") == "" {
		tp := str(m, "touchpoint")
		if tp == "" {
			return
		}
		conv["touchpoint"] = tp
		t.markChanged(str(conv, "id"))
	}
	p, err := s.ensureParticipant(t, conv, str(m, "user"))
	if err != nil {
		return // the user was checked when the message was validated
	}
	setFlags(t, p, "active", true, "accepted", true, "inbox", false)
	conv["channels"], conv["channelsOffline"] = []any{}, []any{}
	setStatus(t, conv, "active")
	t.markChanged(str(conv, "id"))
}

// firstConsumerFacing reports whether no message of conv before id is
// consumer-facing. It reads from the end, where an earlier outbound line
// usually is.
func (s *Server) firstConsumerFacing(t *tx, conv doc, id string) bool {
	ids := arr(conv, "messages")
	for i := len(ids) - 1; i >= 0; i-- {
		mid, _ := ids[i].(string)
		if mid == id {
			continue
		}
		if prev, ok := t.get("messages", mid); ok && consumerFacing(prev) {
			return false
		}
	}
	return true
}
