package chatshipper

import (
	"github.com/go-chatshipper/chatshipper/internal/fastjson"
)

// The one-pass decoder of the models the client reads most (package
// internal/fastjson has the reader and why it exists): decodeJSON tries it
// first for a page of conversations or of messages, and package webhook
// reads the conversation and message of every message event with it
// (fastjson.Model). When it gives up, the codec decodes the body again and
// decides, errors included.

func init() { fastjson.Model, fastjson.DecodeJSON = decodeModel, decodeJSON }

// decodeFast decodes data into v when v points to a nil page of
// conversations or of messages, and reports whether it did; when it did not,
// v is as it was.
func decodeFast(data []byte, v any) bool {
	switch v := v.(type) {
	case *[]*Conversation:
		return *v == nil && decodePage(data, v, fastConversationFields)
	case *[]*Message:
		return *v == nil && decodePage(data, v, fastMessageFields)
	}
	return false
}

// decodePage reads a JSON array of objects into *dst.
func decodePage[T any](data []byte, dst *[]*T, fields []fastjson.Field[T]) bool {
	r := fastjson.NewReader(data, true)
	defer r.Release()
	if r.Peek() != '[' { // the codec decides what null or a non-array means
		return false
	}
	r.Enter('[')
	items := make([]*T, 0, 32)
	for n := 0; r.More(']', n); n++ {
		if r.Null() { // encoding/json leaves the element nil
			items = append(items, nil)
			continue
		}
		v := new(T)
		fastjson.Struct(r, v, fields)
		items = append(items, v)
	}
	r.End()
	if r.Bad() {
		return false
	}
	*dst = items
	return true
}

// decodeModel is fastjson.Model.
func decodeModel(r *fastjson.Reader, dst any) bool {
	switch v := dst.(type) {
	case *Conversation:
		fastjson.Struct(r, v, fastConversationFields)
	case *Message:
		fastjson.Struct(r, v, fastMessageFields)
	case *Ref[Organization]:
		fastRef(r, v)
	case *Timestamp:
		fastTimestamp(r, v)
	default:
		return false
	}
	return true
}

// fastRef reads a Ref: an ID string directly (what Ref.UnmarshalJSON makes of
// it; a change there must be made here too), anything else through
// Ref.UnmarshalJSON.
func fastRef[T any](r *fastjson.Reader, dst *Ref[T]) {
	if r.Peek() == '"' {
		*dst = Ref[T]{ID: r.Str()}
		return
	}
	fastjson.Unmarshaler(r, dst)
}

// fastTimestamp reads a Timestamp: the API's own form directly (what
// Timestamp.UnmarshalJSON makes of it), anything else through
// Timestamp.UnmarshalJSON.
func fastTimestamp(r *fastjson.Reader, dst *Timestamp) {
	const n = len(`"2006-01-02T15:04:05.000Z"`)
	if v, ok := parseAPITime(r.Ahead(n)); ok {
		r.SkipN(n)
		dst.Time = v
		return
	}
	fastjson.Unmarshaler(r, dst)
}

// fastObject reads an Object: a compact object as it is (what Object.set
// makes of it; a change there must be made here too), anything else through
// Object.UnmarshalJSON.
func fastObject(r *fastjson.Reader, dst *Object) {
	if r.Peek() != '{' {
		fastjson.Unmarshaler(r, dst)
		return
	}
	raw, compact := r.RawCompact()
	switch {
	case r.Bad():
	case compact: // isCompact(raw), found while skipping it
		*dst = newObject(raw)
	case dst.UnmarshalJSON([]byte(raw)) != nil:
		r.Fail()
	}
}

func fastRefs[T any](r *fastjson.Reader, dst *[]Ref[T]) {
	if r.Null() || !r.Enter('[') {
		return
	}
	var buf [8]Ref[T]
	s := buf[:0]
	for n := 0; r.More(']', n); n++ {
		s = append(s, Ref[T]{})
		fastRef(r, &s[len(s)-1])
	}
	*dst = fastjson.Exact(s)
}

// The field tables, in the order the platform sends the fields. They must
// list every JSON name of their types (TestFastFieldTables).
var (
	fastConversationFields = []fastjson.Field[Conversation]{
		{Name: "id", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.ID) }},
		{Name: "organization", Dec: func(r *fastjson.Reader, c *Conversation) { fastRef(r, &c.Organization) }},
		{Name: "orgPath", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.OrgPath) }},
		{Name: "name", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Name) }},
		{Name: "type", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Type) }},
		{Name: "status", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Status) }},
		{Name: "contact", Dec: func(r *fastjson.Reader, c *Conversation) { fastRef(r, &c.Contact) }},
		{Name: "categoryIndex", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.IntPtr(r, &c.CategoryIndex) }},
		{Name: "category", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Category) }},
		{Name: "touchpoint", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Touchpoint) }},
		{Name: "language", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Language) }},
		{Name: "participants", Dec: func(r *fastjson.Reader, c *Conversation) { fastParticipants(r, &c.Participants) }},
		{Name: "meta", Dec: func(r *fastjson.Reader, c *Conversation) { fastObject(r, &c.Meta) }},
		{Name: "createdAt", Dec: func(r *fastjson.Reader, c *Conversation) { fastTimestamp(r, &c.CreatedAt) }},
		{Name: "updatedAt", Dec: func(r *fastjson.Reader, c *Conversation) { fastTimestamp(r, &c.UpdatedAt) }},
		{Name: "slug", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.Slug) }},
		{Name: "url", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.String(r, &c.URL) }},
		{Name: "messages", Dec: func(r *fastjson.Reader, c *Conversation) { fastRefs(r, &c.Messages) }},
		{Name: "channels", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.Strings(r, &c.Channels) }},
		{Name: "channelsOffline", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.Strings(r, &c.ChannelsOffline) }},
		{Name: "forms", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.DelegateSlice(r, &c.Forms) }},
		{Name: "results", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.DelegateSlice(r, &c.Results) }},
		{Name: "touchpoints", Dec: func(r *fastjson.Reader, c *Conversation) { fastjson.Strings(r, &c.Touchpoints) }},
		{Name: "createdBy", Dec: func(r *fastjson.Reader, c *Conversation) { fastRef(r, &c.CreatedBy) }},
	}

	fastParticipantFields = []fastjson.Field[Participant]{
		{Name: "user", Dec: func(r *fastjson.Reader, p *Participant) { fastRef(r, &p.User) }},
		{Name: "name", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.String(r, &p.Name) }},
		{Name: "role", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.String(r, &p.Role) }},
		{Name: "unreadCount", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.Int(r, &p.UnreadCount) }},
		{Name: "inbox", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.Bool(r, &p.Inbox) }},
		{Name: "accepted", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.Bool(r, &p.Accepted) }},
		{Name: "active", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.Bool(r, &p.Active) }},
		{Name: "createdAt", Dec: func(r *fastjson.Reader, p *Participant) { fastTimestamp(r, &p.CreatedAt) }},
		{Name: "updatedAt", Dec: func(r *fastjson.Reader, p *Participant) { fastTimestamp(r, &p.UpdatedAt) }},
		{Name: "avatar", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.String(r, &p.Avatar) }},
		{Name: "follow", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.Bool(r, &p.Follow) }},
		{Name: "organization", Dec: func(r *fastjson.Reader, p *Participant) { fastjson.String(r, &p.Organization) }},
	}

	fastMessageFields = []fastjson.Field[Message]{
		{Name: "id", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.ID) }},
		{Name: "conversation", Dec: func(r *fastjson.Reader, m *Message) { fastRef(r, &m.Conversation) }},
		{Name: "organization", Dec: func(r *fastjson.Reader, m *Message) { fastRef(r, &m.Organization) }},
		{Name: "orgPath", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.OrgPath) }},
		{Name: "type", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.Type) }},
		{Name: "role", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.Role) }},
		{Name: "user", Dec: func(r *fastjson.Reader, m *Message) { fastRef(r, &m.User) }},
		{Name: "text", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.Text) }},
		{Name: "contentType", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.ContentType) }},
		{Name: "isBackchannel", Dec: func(r *fastjson.Reader, m *Message) { fastjson.Bool(r, &m.IsBackchannel) }},
		{Name: "touchpoint", Dec: func(r *fastjson.Reader, m *Message) { fastjson.String(r, &m.Touchpoint) }},
		{Name: "meta", Dec: func(r *fastjson.Reader, m *Message) { fastObject(r, &m.Meta) }},
		{Name: "createdAt", Dec: func(r *fastjson.Reader, m *Message) { fastTimestamp(r, &m.CreatedAt) }},
		{Name: "updatedAt", Dec: func(r *fastjson.Reader, m *Message) { fastTimestamp(r, &m.UpdatedAt) }},
		{Name: "delay", Dec: func(r *fastjson.Reader, m *Message) { fastjson.Int(r, &m.Delay) }},
		{Name: "actions", Dec: func(r *fastjson.Reader, m *Message) { fastjson.DelegateSlice(r, &m.Actions) }},
		{Name: "items", Dec: func(r *fastjson.Reader, m *Message) { fastjson.DelegateSlice(r, &m.Items) }},
		{Name: "results", Dec: func(r *fastjson.Reader, m *Message) { fastjson.DelegateSlice(r, &m.Results) }},
		{Name: "likes", Dec: func(r *fastjson.Reader, m *Message) { fastjson.Strings(r, &m.Likes) }},
		{Name: "comments", Dec: func(r *fastjson.Reader, m *Message) { fastjson.DelegateSlice(r, &m.Comments) }},
		{Name: "version", Dec: func(r *fastjson.Reader, m *Message) { fastjson.Int(r, &m.Version) }},
	}
)

func fastParticipants(r *fastjson.Reader, dst *[]Participant) {
	if r.Null() || !r.Enter('[') {
		return
	}
	s := make([]Participant, 0, 2)
	for n := 0; r.More(']', n); n++ {
		s = append(s, Participant{})
		fastjson.Struct(r, &s[len(s)-1], fastParticipantFields)
	}
	*dst = s
}
