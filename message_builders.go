package chatshipper

import (
	"fmt"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Constructors of ordinary messages (https://developers.chatshipper.com/docs/messaging-types) and the chainable
// modifiers every MessageInput has. Modifiers have value receivers and return
// a modified copy; they never write to a map or slice the receiver shares, so
// several messages can be derived from one base. A modifier that refuses its
// argument keeps the first error of the message (Err) and leaves the message
// otherwise unchanged.

// Chat returns an ordinary chat line. The type is left out because chat is
// the server's default; the author's role defaults to bot, which never
// reaches a consumer (use WithRole(RoleAgent) or OnBehalfOf for that).
func Chat(text string) MessageInput {
	m := MessageInput{Text: text}
	if strings.TrimSpace(text) == "" {
		return m.withErr(argError("text", "a chat message needs text"))
	}
	return m
}

// Image returns a chat message showing the image at mediaURL: media are sent
// as their absolute http(s) URL with an image content type ("image/png").
func Image(mediaURL, contentType string) MessageInput {
	m := MessageInput{Text: mediaURL}
	if err := checkHTTPURL("mediaURL", mediaURL); err != nil {
		return m.withErr(err)
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || !strings.HasPrefix(mt, "image/") || mt == "image/" {
		return m.withErr(argError("contentType", "%q is not an image content type", truncate(contentType, 64)))
	}
	m.ContentType = contentType
	return m
}

// Card returns a card: a panel with text and items, rendered as a carousel in
// rich consumer channels. Each item needs a title; actions are checked as in
// WithActions. The items are copied.
func Card(text string, items ...CardItem) MessageInput {
	m := MessageInput{Type: MessageTypeCard, Text: text}
	if strings.TrimSpace(text) == "" {
		return m.withErr(argError("text", "a card needs text"))
	}
	for i, it := range items {
		name := fmt.Sprintf("items[%d]", i)
		if strings.TrimSpace(it.Title) == "" {
			return m.withErr(argError(name+".title", "a card item needs a title"))
		}
		if it.MediaURL != "" {
			if err := checkHTTPURL(name+".mediaUrl", it.MediaURL); err != nil {
				return m.withErr(err)
			}
		}
		for j, a := range it.Actions {
			if err := checkAction(fmt.Sprintf("%s.actions[%d]", name, j), a); err != nil {
				return m.withErr(err)
			}
		}
	}
	if len(items) > 0 {
		m.Items = make([]CardItem, len(items))
		for i, it := range items {
			it.Actions = slices.Clone(it.Actions)
			m.Items[i] = it
		}
	}
	return m
}

// NewCardItem returns a card item with a title and buttons. It is checked
// when the card is built ([Card]).
func NewCardItem(title string, actions ...Action) CardItem {
	return CardItem{Title: title, Actions: slices.Clone(actions)}
}

// PostbackAction returns a button that, when pressed, posts a postback
// message whose text is payload; it can be pressed repeatedly. Label and
// payload must not be empty; this is checked when the message is built.
func PostbackAction(label, payload string) Action {
	return Action{Type: ActionPostback, Text: label, Payload: payload}
}

// ReplyAction returns a suggested quick reply, shown at the bottom of the
// consumer's screen. The label must not be empty; an empty payload is allowed
// (the server's handling of it is not documented, some integrations send
// only one of the two).
func ReplyAction(label, payload string) Action {
	return Action{Type: ActionReply, Text: label, Payload: payload}
}

// LinkAction returns a button opening uri, which must be an absolute http(s)
// URL. The documentation's example sets both uri and url, and which one a
// channel reads is not documented, so both carry the address.
func LinkAction(label, uri string) Action {
	return Action{Type: ActionLink, Text: label, URI: uri, URL: uri}
}

// Mention returns a comment addressed to an agent (ToUser) or an organization
// (ToOrganization); it is never sent to the consumer. Until one of the two is
// called the message holds an error, so an untargeted mention is refused
// before it is sent. Text starting with "@name" has that prefix stripped by
// the server, which stores it as meta.targetName.
func Mention(text string) MessageInput {
	m := MessageInput{Type: MessageTypeMention, Text: text}
	if strings.TrimSpace(text) == "" {
		return m.withErr(argError("text", "a mention needs text"))
	}
	return m.withErr(argError("mention", mentionTargetReason))
}

// ToUser addresses a mention to the agent userID (meta.targetUser): that
// participant's inbox flag is set and the agent is notified.
func (m MessageInput) ToUser(userID string) MessageInput {
	return m.mentionTarget("ToUser", "userID", "targetUser", userID)
}

// ToOrganization addresses a mention to the organization orgID
// (meta.targetOrganization): its routing rules run as if a consumer had
// written.
func (m MessageInput) ToOrganization(orgID string) MessageInput {
	return m.mentionTarget("ToOrganization", "orgID", "targetOrganization", orgID)
}

func (m MessageInput) mentionTarget(method, name, key, id string) MessageInput {
	if err := m.only(method, MessageTypeMention); err != nil {
		return m.withErr(err)
	}
	if err := checkID(name, id); err != nil {
		return m.withErr(err)
	}
	if isPendingTarget(m.err) {
		m.err = nil
	}
	return m.withMetaValue(key, id)
}

// Tag returns a tag message: agent keywords, which the server normalizes
// (hashes and punctuation removed) and shows as separate tags.
func Tag(text string) MessageInput {
	m := MessageInput{Type: MessageTypeTag, Text: text}
	if strings.TrimSpace(text) == "" {
		return m.withErr(argError("text", "a tag message needs text"))
	}
	return m
}

// ActivateForm adds the form formID, named name, to the conversation for the
// active category, or for the category InCategory gives; the form must be
// assigned to that category in the organization.
func ActivateForm(formID, name string) MessageInput { return formMessage("+", formID, name) }

// DeactivateForm removes the form formID, named name, from the conversation's
// active category, or from the category InCategory gives.
func DeactivateForm(formID, name string) MessageInput { return formMessage("-", formID, name) }

func formMessage(sign, formID, name string) MessageInput {
	m := MessageInput{Type: MessageTypeForm, Text: sign + name}
	if err := checkID("formID", formID); err != nil {
		return m.withErr(err)
	}
	if err := oneLine("name", name); err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("form", formID)
}

// InCategory sets the category slot (0-9, meta.categoryIndex) an
// ActivateForm or DeactivateForm message applies to.
func (m MessageInput) InCategory(index int) MessageInput {
	if err := m.only("InCategory", MessageTypeForm); err != nil {
		return m.withErr(err)
	}
	if index < 0 || index > maxCategoryIndex {
		return m.withErr(argError("index", "category slot %d is out of range 0-%d", index, maxCategoryIndex))
	}
	return m.withMetaValue("categoryIndex", index)
}

// Field records value for the field key of the form formID active in the
// conversation. The key must be one word; the value must not be empty.
func Field(formID, key, value string) MessageInput {
	m := MessageInput{Type: MessageTypeField, Text: value}
	if err := checkID("formID", formID); err != nil {
		return m.withErr(err)
	}
	if key == "" || strings.ContainsFunc(key, unicode.IsSpace) {
		return m.withErr(argError("key", "a field key must be one non-empty word"))
	}
	if value == "" {
		return m.withErr(argError("value", "a field value must not be empty"))
	}
	return m.withMetaValue("form", formID).withMetaValue("key", key)
}

// Report returns a bot's report: a backchannel message (never shown to the
// consumer) carrying one or more result sets. The results are copied; a
// result naming a form must name it by a valid ID.
func Report(text string, results ...FormResult) MessageInput {
	m := MessageInput{Type: MessageTypeReport, Text: text, IsBackchannel: true}
	if strings.TrimSpace(text) == "" {
		return m.withErr(argError("text", "a report needs text"))
	}
	if len(results) == 0 {
		return m.withErr(argError("results", "a report needs at least one result"))
	}
	out := make([]FormResult, len(results))
	for i, r := range results {
		if r.Form != "" {
			if err := checkID(fmt.Sprintf("results[%d].form", i), r.Form); err != nil {
				return m.withErr(err)
			}
		}
		r.Values = maps.Clone(r.Values)
		out[i] = r
	}
	m.Results = out
	return m
}

// --- modifiers ---

// WithContentType sets the MIME type of the text (default text/plain;
// text/html is accepted, and an image type makes the text a media URL).
// (The method cannot be called ContentType: that is the field it sets.)
func (m MessageInput) WithContentType(contentType string) MessageInput {
	if !isMediaType(contentType) {
		return m.withErr(argError("contentType", "%q is not a MIME type", truncate(contentType, 64)))
	}
	m.ContentType = contentType
	return m
}

// Backchannel shows the message in the agents' backchannel only: it is never
// sent to the consumer.
func (m MessageInput) Backchannel() MessageInput {
	m.IsBackchannel = true
	return m
}

// WithRole sets the author's role. The server's default is bot, which never
// reaches a consumer; a bot talking to a consumer uses RoleAgent.
func (m MessageInput) WithRole(role Role) MessageInput {
	switch role {
	case RoleContact, RoleAgent, RoleBot, RoleAdmin, RoleSystem:
		m.Role = role
		return m
	}
	return m.withErr(argError("role", "%q is not a role", truncate(string(role), 32)))
}

// OnBehalfOf posts the message as the agent userID: role agent and user set.
func (m MessageInput) OnBehalfOf(userID string) MessageInput {
	if err := checkID("userID", userID); err != nil {
		return m.withErr(err)
	}
	m.Role = RoleAgent
	m.User = userID
	return m
}

// WithTouchpoint picks the consumer channel the message is delivered through,
// needed when the conversation has none yet. The documentation lists web,
// email, sms and facebook but hints at more, so any one-word value is
// accepted. (The method cannot be called Touchpoint: that is the field it
// sets.)
func (m MessageInput) WithTouchpoint(tp Touchpoint) MessageInput {
	if tp == "" || strings.ContainsFunc(string(tp), unicode.IsSpace) {
		return m.withErr(argError("touchpoint", "%q is not a touchpoint", truncate(string(tp), 32)))
	}
	m.Touchpoint = string(tp)
	return m
}

// WithDelay makes the server wait d before processing the message (sent in
// whole milliseconds, rounded down). A negative delay is refused. (The method
// cannot be called Delay: that is the field it sets.)
func (m MessageInput) WithDelay(d time.Duration) MessageInput {
	if d < 0 {
		return m.withErr(argError("delay", "must not be negative"))
	}
	ms := d.Milliseconds()
	if int64(int(ms)) != ms {
		return m.withErr(argError("delay", "%s is too long", d))
	}
	m.Delay = int(ms)
	return m
}

// Quote shows quote as a quoted text above the message bubble
// (meta.quotedMessage).
func (m MessageInput) Quote(quote string) MessageInput {
	if strings.TrimSpace(quote) == "" {
		return m.withErr(argError("quote", "must not be empty"))
	}
	return m.withMetaValue("quotedMessage", quote)
}

// WithMeta sets meta[key] on the message (not on the conversation: use
// SetMeta for that). value must encode as JSON.
func (m MessageInput) WithMeta(key string, value any) MessageInput {
	if key == "" {
		return m.withErr(argError("key", "a meta key must not be empty"))
	}
	return m.withMetaValue(key, value)
}

// WithActions appends buttons to the message. Labels must not be empty, a
// postback needs a payload and a link an absolute http(s) URL.
func (m MessageInput) WithActions(actions ...Action) MessageInput {
	for i, a := range actions {
		if err := checkAction(fmt.Sprintf("actions[%d]", len(m.Actions)+i), a); err != nil {
			return m.withErr(err)
		}
	}
	if len(actions) > 0 {
		m.Actions = slices.Concat(m.Actions, actions)
	}
	return m
}

// Title sets the panel title of a card (meta.title).
func (m MessageInput) Title(title string) MessageInput {
	if err := m.only("Title", MessageTypeCard); err != nil {
		return m.withErr(err)
	}
	if strings.TrimSpace(title) == "" {
		return m.withErr(argError("title", "must not be empty"))
	}
	return m.withMetaValue("title", title)
}

// only refuses a modifier that has no meaning for the message's type.
func (m MessageInput) only(method string, t MessageType) error {
	if m.Type == t {
		return nil
	}
	got := m.Type
	if got == "" {
		got = MessageTypeChat
	}
	return argError(method, "applies to %s messages only, not %s", t, got)
}

// checkAction refuses an action of a documented type that lacks what it
// needs. Other types (webview, future ones) are passed on unchecked except
// for their URLs, since their rules are not documented.
func checkAction(name string, a Action) error {
	if a.Type == "" {
		return argError(name+".type", "an action needs a type")
	}
	switch a.Type {
	case ActionPostback, ActionReply, ActionLink:
		if strings.TrimSpace(a.Text) == "" {
			return argError(name+".text", "a %s action needs a label", a.Type)
		}
	}
	switch a.Type {
	case ActionPostback:
		if a.Payload == "" {
			return argError(name+".payload", "a postback action needs a payload")
		}
	case ActionLink:
		if a.URI == "" && a.URL == "" {
			return argError(name+".uri", "a link action needs a URL")
		}
	}
	if a.URI != "" {
		if err := checkHTTPURL(name+".uri", a.URI); err != nil {
			return err
		}
	}
	if a.URL != "" {
		if err := checkHTTPURL(name+".url", a.URL); err != nil {
			return err
		}
	}
	return nil
}

// isMediaType reports a well-formed "type/subtype" (parameters allowed);
// mime.ParseMediaType alone also takes a bare "text".
func isMediaType(s string) bool {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && typ != "" && sub != ""
}

// checkHTTPURL refuses anything but an absolute http or https URL with a host.
func checkHTTPURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return argError(name, "%q is not an absolute http(s) URL", truncate(s, 64))
	}
	return nil
}
