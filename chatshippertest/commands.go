package chatshippertest

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// System commands (https://developers.chatshipper.com/docs/messaging-commands). Each runs inside the message's transaction;
// any error undoes the whole request.

func unprocessable(format string, args ...any) error {
	return errf(http.StatusUnprocessableEntity, format, args...)
}

// runCommand executes a command message m (already stored) on conv.
func (s *Server) runCommand(t *tx, cl *caller, conv, m doc) error {
	text := strings.TrimSpace(str(m, "text"))
	if strings.HasPrefix(text, ">") {
		return nil // bot command: stored for automations, ignored by the system
	}
	if !strings.HasPrefix(text, "/") {
		return unprocessable("a command must start with / (system) or > (bot)")
	}
	name, args, _ := strings.Cut(text[1:], " ")
	args = strings.TrimSpace(args)
	actor := str(m, "user")
	meta := obj(m, "meta")
	var err error
	switch strings.ToLower(name) {
	case "notify", "enqueue":
		err = s.cmdNotify(t, conv, meta)
	case "assign":
		err = s.cmdAssign(t, conv, meta)
	case "join":
		var p map[string]any
		if p, err = s.ensureParticipant(t, conv, actor); err == nil {
			setFlags(t, p, "active", true)
			// Joining re-opens a closed conversation; a queued or active
			// one keeps its status (spec: lifecycle and /join).
			if str(conv, "status") == "closed" {
				setStatus(t, conv, "active")
			}
		}
	case "accept":
		var p map[string]any
		if p, err = s.ensureParticipant(t, conv, actor); err == nil {
			setFlags(t, p, "active", true, "accepted", true, "inbox", false)
			conv["channels"], conv["channelsOffline"] = []any{}, []any{}
			setStatus(t, conv, "active")
		}
	case "leave", "close":
		s.cmdLeave(t, conv, actor)
	case "block":
		err = s.cmdBlock(t, conv)
	case "set":
		err = s.cmdSet(t, conv, args, meta)
	case "action":
		err = s.cmdAction(t, m, args, meta)
	case "send":
		err = s.cmdSend(t, conv, m, meta)
	case "import":
		err = s.cmdImport(t, conv, args)
	default:
		return unprocessable("Unknown command /%s", name)
	}
	if err != nil {
		return err
	}
	t.markChanged(str(conv, "id"))
	return nil
}

// cmdNotify targets channels: meta.channels exactly, else the channels of
// meta.organizations, else those of the conversation's organization. A key
// whose value is null counts as absent. An active (or archived) conversation
// is left alone.
func (s *Server) cmdNotify(t *tx, conv, meta doc) error {
	var chans []any
	if v, ok := meta["channels"]; ok && v != nil {
		ids, ok := strs(v)
		if !ok || len(ids) == 0 {
			return unprocessable("meta.channels must be a non-empty array of channel ids")
		}
		for _, id := range ids {
			if _, ok := t.get("channels", id); !ok {
				return unprocessable("Channel %s not found", id)
			}
		}
		chans = anys(ids)
	} else if v, ok := meta["organizations"]; ok && v != nil {
		ids, ok := strs(v)
		if !ok || len(ids) == 0 {
			return unprocessable("meta.organizations must be a non-empty array of organization ids")
		}
		for _, id := range ids {
			if _, ok := t.get("organizations", id); !ok {
				return unprocessable("Organization %s not found", id)
			}
		}
		chans = s.orgChannels(ids...)
	} else {
		chans = s.orgChannels(str(conv, "organization"))
	}
	if st := str(conv, "status"); st == "active" || st == "archived" {
		return nil
	}
	conv["channels"], conv["channelsOffline"] = chans, []any{}
	setStatus(t, conv, "queued")
	return nil
}

// cmdAssign puts the conversation in the inboxes of meta.users.
func (s *Server) cmdAssign(t *tx, conv, meta doc) error {
	ids, ok := strs(meta["users"])
	if !ok || len(ids) == 0 {
		return unprocessable("meta.users must be a non-empty array of user ids")
	}
	for _, id := range ids {
		p, err := s.ensureParticipant(t, conv, id)
		if err != nil {
			return err
		}
		setFlags(t, p, "inbox", true)
	}
	queueUnlessActive(t, conv)
	return nil
}

// cmdLeave makes actor inactive; when nobody active has accepted, the
// conversation closes if the contact's last message was answered (or there
// is none), else it is queued and the organization's channels notified again.
func (s *Server) cmdLeave(t *tx, conv doc, actor string) {
	if p := participant(conv, actor); p != nil {
		setFlags(t, p, "active", false, "accepted", false)
	}
	if anyAccepted(conv) || str(conv, "status") == "archived" {
		return
	}
	if s.awaitingAnswer(t, conv) {
		conv["channels"], conv["channelsOffline"] = s.orgChannels(str(conv, "organization")), []any{}
		setStatus(t, conv, "queued")
		return
	}
	conv["channels"], conv["channelsOffline"] = []any{}, []any{}
	setStatus(t, conv, "closed")
}

// awaitingAnswer reports whether the last contact message has no later
// visible reply by an agent or bot.
func (s *Server) awaitingAnswer(t *tx, conv doc) bool {
	ids := arr(conv, "messages")
	for i := len(ids) - 1; i >= 0; i-- {
		id, _ := ids[i].(string)
		m, ok := t.get("messages", id)
		if !ok {
			continue
		}
		switch role, typ := str(m, "role"), str(m, "type"); {
		case role == "contact":
			return true
		case (role == "agent" || role == "bot") && !slices.Contains([]string{"command", "status", "form", "field"}, typ):
			return false
		}
	}
	return false
}

// cmdBlock blocks the contact, makes everyone inactive and closes.
func (s *Server) cmdBlock(t *tx, conv doc) error {
	c, ok := t.edit("contacts", str(conv, "contact"))
	if !ok {
		return unprocessable("/block needs a conversation with a contact")
	}
	c["blocked"], c["updatedAt"] = true, formatTime(t.now)
	for _, e := range arr(conv, "participants") {
		if p, ok := e.(map[string]any); ok {
			setFlags(t, p, "active", false, "accepted", false, "inbox", false)
		}
	}
	conv["channels"], conv["channelsOffline"] = []any{}, []any{}
	setStatus(t, conv, "closed")
	return nil
}

var (
	languageRe    = regexp.MustCompile(`^[a-z]{2}$`)
	touchpoints   = []string{"web", "email", "sms", "facebook"}
	setProperties = []string{"name", "category", "touchpoint", "language"}
)

// cmdSet handles "/set @prop value", "/set key value" and "/set" with a meta
// object (merged into conversation.meta; also merged alongside the text forms).
func (s *Server) cmdSet(t *tx, conv doc, args string, meta doc) error {
	if args == "" && meta == nil {
		return unprocessable("/set needs a property and value, or a meta object")
	}
	if args != "" {
		key, val, _ := strings.Cut(args, " ")
		val = strings.TrimSpace(val)
		if prop, ok := strings.CutPrefix(key, "@"); ok {
			switch prop {
			case "name":
				if val == "" {
					return unprocessable("/set @name needs a name")
				}
				conv["name"] = val
			case "category":
				idx, name, err := s.resolveCategory(t, conv, val)
				if err != nil {
					return err
				}
				conv["category"], conv["categoryIndex"] = name, float64(idx)
			case "touchpoint":
				if !slices.Contains(touchpoints, val) {
					return unprocessable("touchpoint must be one of %s", strings.Join(touchpoints, ", "))
				}
				conv["touchpoint"] = val
			case "language":
				if !languageRe.MatchString(val) {
					return unprocessable("language must be a two-letter lowercase code")
				}
				conv["language"] = val
			default:
				return unprocessable("unknown conversation property @%s (one of @%s)", prop, strings.Join(setProperties, ", @"))
			}
		} else {
			cm := obj(conv, "meta")
			if cm == nil {
				cm = doc{}
				conv["meta"] = cm
			}
			cm[key] = val
		}
	}
	if meta != nil {
		cm := obj(conv, "meta")
		if cm == nil {
			cm = doc{}
			conv["meta"] = cm
		}
		for k, v := range meta {
			cm[k] = cloneValue(v)
		}
	}
	return nil
}

// resolveCategory finds an organization category by zero-based index or name.
func (s *Server) resolveCategory(t *tx, conv doc, val string) (int, string, error) {
	org, _ := t.get("organizations", str(conv, "organization"))
	cats := arr(org, "categories")
	name := func(i int) string {
		c, _ := cats[i].(map[string]any)
		return str(c, "name")
	}
	if i, err := strconv.Atoi(val); err == nil {
		if i < 0 || i >= len(cats) {
			return 0, "", unprocessable("category index %d out of range (the organization has %d categories)", i, len(cats))
		}
		return i, name(i), nil
	}
	for i := range cats {
		if strings.EqualFold(name(i), val) {
			return i, name(i), nil
		}
	}
	return 0, "", unprocessable("unknown category %q", val)
}

// Message action limits (https://developers.chatshipper.com/docs/messaging-commands).
const (
	maxLikes    = 100
	maxComments = 10
)

// cmdAction handles "/action like" and "/action comment <text>" on meta.message.
func (s *Server) cmdAction(t *tx, cmd doc, args string, meta doc) error {
	sub, rest, _ := strings.Cut(args, " ")
	target, _ := meta["message"].(string)
	if target == "" {
		return unprocessable("/action needs meta.message")
	}
	actor := str(cmd, "user")
	switch sub {
	case "like", "comment":
	default:
		return unprocessable("unknown action %q (like or comment)", sub)
	}
	msg, ok := t.edit("messages", target)
	if !ok {
		return unprocessable("Message %s not found", target)
	}
	if sub == "like" {
		likes := arr(msg, "likes")
		if slices.Contains(likes, any(actor)) {
			return nil
		}
		if len(likes) >= maxLikes {
			return unprocessable("a message can have at most %d likes", maxLikes)
		}
		msg["likes"] = append(likes, actor)
	} else {
		text := strings.TrimSpace(rest)
		if text == "" {
			return unprocessable("/action comment needs a text")
		}
		comments := arr(msg, "comments")
		if len(comments) >= maxComments {
			return unprocessable("a message can have at most %d comments", maxComments)
		}
		msg["comments"] = append(comments, map[string]any{"user": actor, "message": cmd["id"], "text": text})
	}
	msg["updatedAt"] = formatTime(t.now)
	t.emit("messages", target, "update", actor)
	return nil
}

// cmdImport merges the origin conversation named in args into conv: copies
// of its messages are interleaved by creation time, the origin is archived.
func (s *Server) cmdImport(t *tx, conv doc, args string) error {
	originID := strings.TrimSpace(args)
	if !isID(originID) {
		return unprocessable("/import needs the id of the origin conversation")
	}
	if originID == str(conv, "id") {
		return unprocessable("a conversation cannot import itself")
	}
	origin, ok := t.edit("conversations", originID)
	if !ok {
		return unprocessable("Conversation %s not found", originID)
	}
	now := formatTime(t.now)
	ids := arr(conv, "messages")
	for _, e := range arr(origin, "messages") {
		srcID, _ := e.(string)
		src, ok := t.edit("messages", srcID)
		if !ok {
			continue
		}
		cp := cloneDoc(src)
		cpID := s.newID()
		version, _ := src["version"].(float64)
		cp["id"], cp["conversation"], cp["organization"], cp["orgPath"] = cpID, conv["id"], conv["organization"], conv["orgPath"]
		cp["version"], cp["updatedAt"] = max(version, 1)+1, now
		setMeta(cp, "_source", srcID)
		setMeta(src, "_target", cpID)
		src["updatedAt"] = now
		t.insert("messages", cp)
		ids = append(ids, cpID)
	}
	created := func(id any) string {
		m, _ := t.get("messages", id.(string))
		return str(m, "createdAt")
	}
	slices.SortStableFunc(ids, func(a, b any) int { return strings.Compare(created(a), created(b)) })
	conv["messages"] = ids
	origin["name"], origin["updatedAt"] = "TRANSFERRED", now
	setStatus(t, origin, "archived")
	return nil
}

// setMeta sets m.meta[k], creating meta when absent.
func setMeta(m doc, k string, v any) {
	meta := obj(m, "meta")
	if meta == nil {
		meta = doc{}
		m["meta"] = meta
	}
	meta[k] = v
}

// Mentions and tags (https://developers.web1on1.chat/messaging/commentstagsandsearch):
// message types that act on the conversation like commands do.

// mentionMessage applies a mention m (already stored): a comment for the
// agents, never sent to the consumer. meta.targetUser (or chipchat's
// meta.targetBot; a user id or a list of them) puts each target user in the
// conversation with the inbox flag set; meta.targetOrganization runs that
// organization's routing as an inbound consumer message would (as /notify
// with meta.organizations). A text starting with "@" and a target's display
// name or name has that prefix stripped (unless nothing would remain), and
// meta.targetName holds the target's name: the first target user's, else
// the organization's. A key whose value is null counts as absent.
func (s *Server) mentionMessage(t *tx, conv, m doc) error {
	meta := obj(m, "meta")
	var users []string
	for _, key := range []string{"targetUser", "targetBot"} {
		v, ok := meta[key]
		if !ok || v == nil {
			continue
		}
		ids, isList := strs(v)
		if id, isID := v.(string); isID {
			ids, isList = []string{id}, true
		}
		if !isList || len(ids) == 0 {
			return unprocessable("meta.%s must be a user id or a non-empty array of user ids", key)
		}
		users = append(users, ids...)
	}
	var org doc
	if v, ok := meta["targetOrganization"]; ok && v != nil {
		id, _ := v.(string)
		o, found := t.get("organizations", id)
		if !found {
			return unprocessable("Organization %v not found", v)
		}
		org = o
	}
	if len(users) == 0 && org == nil {
		return unprocessable("a mention needs meta.targetUser or meta.targetOrganization")
	}
	var names []string // the display names and names the text may start with
	for _, id := range users {
		u, ok := t.get("users", id)
		if !ok {
			return unprocessable("User %s not found", id)
		}
		names = append(names, displayName(u), str(u, "name"))
	}
	if org != nil {
		names = append(names, displayName(org), str(org, "name"))
	}
	for _, id := range users {
		p, err := s.ensureParticipant(t, conv, id)
		if err != nil {
			return err
		}
		setFlags(t, p, "inbox", true)
	}
	if org != nil {
		if err := s.cmdNotify(t, conv, doc{"organizations": []any{org["id"]}}); err != nil {
			return err
		}
	}
	m["text"] = stripMention(str(m, "text"), names)
	setMeta(m, "targetName", names[0])
	t.markChanged(str(conv, "id"))
	return nil
}

// displayName is a user's or organization's displayName, else its name.
func displayName(d doc) string {
	if n := str(d, "displayName"); n != "" {
		return n
	}
	return str(d, "name")
}

// stripMention removes a leading "@<name>" (any of names, compared without
// case, followed by the end or a character that is not a letter or digit)
// and the spaces and punctuation after it. A text that would be left empty
// is returned unchanged: a message has text.
func stripMention(text string, names []string) string {
	rest, ok := strings.CutPrefix(text, "@")
	if !ok {
		return text
	}
	for _, n := range names {
		if n == "" || len(rest) < len(n) || !strings.EqualFold(rest[:len(n)], n) {
			continue
		}
		after := rest[len(n):]
		if r, _ := utf8.DecodeRuneInString(after); after != "" && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			continue // "@Alice" is not "@Ali"
		}
		if out := strings.TrimLeftFunc(after, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ':' }); out != "" {
			return out
		}
		return text
	}
	return text
}

// tagMessage normalizes a tag message m (already stored): the documented
// example "#hashTag, hash !! tag#tag; #hash" is stored as "hashTag hash
// tagtag". "#" is dropped wherever it stands, every other character that is
// not a letter, digit or underscore separates tags, and a repeated tag
// (compared without case) is kept once, first spelling first. The answer
// carries empty actions and results arrays, as the documented one does. A
// text with no tag left is a 422.
func tagMessage(m doc) error {
	words := strings.FieldsFunc(strings.ReplaceAll(str(m, "text"), "#", ""), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	})
	var tags []string
	for _, w := range words {
		if !slices.ContainsFunc(tags, func(t string) bool { return strings.EqualFold(t, w) }) {
			tags = append(tags, w)
		}
	}
	if len(tags) == 0 {
		return unprocessable("a tag message needs at least one word")
	}
	m["text"] = strings.Join(tags, " ")
	for _, k := range []string{"actions", "results"} {
		if _, ok := m[k]; !ok {
			m[k] = []any{}
		}
	}
	return nil
}
