package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Webhook payloads: the typed Event and its decoding. Signatures are in
// signature.go, the HTTP side in handler.go, routing and filters in filter.go.

// ErrInvalidEvent matches every error ParseEvent returns for a body that is not
// a webhook event: malformed JSON, a field of the wrong type, no "event" name.
var ErrInvalidEvent = errors.New("chatshipper: invalid webhook event")

// ErrNoResource is returned by Event.Resource when the event's data has no
// resource of that name.
var ErrNoResource = errors.New("chatshipper: webhook event has no such resource")

// Event is one webhook delivery. Name is the event name, e.g.
// "message.create.contact.chat" (message events:
// message.create.<conversation type>.<message type>, message.update,
// message.delete, message.error) or "<resource>.<action>" (service.create,
// conversation.update, ...). Data holds the resources the event is about.
//
// Encoding an Event with encoding/json gives the wire form back (Raw is left
// out); ParseEvent is the way in.
type Event struct {
	// ID is the UUID of the webhook call. A retry of the same call is taken
	// to carry the same ID, which is how Handler recognises duplicates
	// (the docs do not say so outright; if the platform changed it per
	// attempt, duplicates would simply run again).
	ID string `json:"id,omitempty"`
	// Name is the event name (JSON "event").
	Name string `json:"event"`
	// Timestamp is when the event happened.
	Timestamp chatshipper.Timestamp `json:"timestamp,omitzero"`
	// Organization is the ID of the organization that owns the event. The
	// payload carries it as an ID string; ParseEvent also reads a populated
	// organization object (taking its id), as any reference of the API.
	Organization string `json:"organization,omitempty"`
	// Activity describes the event as an ActivityStreams activity (who did
	// what to which object), or is nil when the payload has none.
	Activity *Activity `json:"activity,omitempty"`
	// Data holds the resources involved.
	Data EventData `json:"data"`
	// Raw is the whole body as received, for anything the typed fields miss.
	Raw json.RawMessage `json:"-"`
}

// Activity is the ActivityStreams description of an event, e.g. actor a
// user, type "Create", object a message.
type Activity struct {
	// Context is the JSON-LD context ("@context"),
	// normally "https://www.w3.org/ns/activitystreams".
	Context string `json:"@context,omitempty"`
	// Type is the ActivityStreams verb: "Create", "Update", "Delete", ...
	Type string `json:"type,omitempty"`
	// Actor is who did it (a user or contact).
	Actor ActivityObject `json:"actor,omitzero"`
	// Object is what it was done to (a message, conversation, service, ...).
	Object ActivityObject `json:"object,omitzero"`
	// Published is when it happened.
	Published chatshipper.Timestamp `json:"published,omitzero"`
	// Summary is a human-readable sentence ("User Jenny Jones created a chat message").
	Summary string `json:"summary,omitempty"`
}

// ActivityObject is the actor or object of an Activity.
type ActivityObject struct {
	// ID is an API URL such as "https://api.web1on1.chat/v2/users/<id>".
	ID string `json:"id,omitempty"`
	// Type is the ActivityStreams type: "Person", "Object", ...
	Type string `json:"type,omitempty"`
}

// ResourceID returns the last path segment of the object's URL (the resource
// ID for API URLs), or "" when the ID has no path.
func (o ActivityObject) ResourceID() string {
	return lastPathSegment(o.ID)
}

func lastPathSegment(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	u = strings.TrimRight(u, "/")
	i := strings.LastIndexByte(u, '/')
	if i < 0 {
		return ""
	}
	return u[i+1:]
}

// EventData is the "data" object of an event. Message events carry
// data.conversation and data.message, resource events data.<resource> (kept
// in Resources), and most events data.links.
type EventData struct {
	// Conversation is data.conversation, or nil.
	Conversation *chatshipper.Conversation
	// Message is data.message, or nil. When the payload's message has no
	// conversation reference, Message.Conversation is set from
	// data.conversation.id (or the conversation link), so it is always
	// usable for a reply.
	Message *chatshipper.Message
	// Links are the API URLs of the resources involved (data.links), keyed
	// by resource: "organization", "conversation", "message", "contact",
	// "user". Values that are not strings are left out.
	Links map[string]string
	// Resources holds every other data key undecoded, e.g. "service",
	// "organization", "botinstance". Decode one with Event.Resource. It is
	// nil for message events, whose data the API defines as conversation,
	// message and links: they are decoded in a single pass for speed, and
	// Event.Resource still finds any further key in Raw.
	Resources map[string]json.RawMessage
}

// The keys EventData decodes itself; every other one goes to Resources.
const (
	dataConversation = "conversation"
	dataMessage      = "message"
	dataLinks        = "links"
)

// MarshalJSON writes the wire form: the typed resources and Resources side by
// side in one object.
func (d EventData) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Resources)+3)
	for k, v := range d.Resources {
		m[k] = v
	}
	if d.Conversation != nil {
		m[dataConversation] = d.Conversation
	}
	if d.Message != nil {
		m[dataMessage] = d.Message
	}
	if d.Links != nil {
		m[dataLinks] = d.Links
	}
	return wire.Marshal(m)
}

// UnmarshalJSON reads the wire form (an object, or null).
func (d *EventData) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := wire.Unmarshal(b, &raw); err != nil {
		return err
	}
	return d.fill(raw)
}

// fill decodes the known keys of data and keeps the rest raw.
func (d *EventData) fill(raw map[string]json.RawMessage) error {
	*d = EventData{}
	for k, v := range raw {
		switch k {
		case dataConversation:
			if isJSONNull(v) {
				continue
			}
			c := new(chatshipper.Conversation)
			if err := wire.Unmarshal(v, c); err != nil {
				return fmt.Errorf("data.conversation: %w", err)
			}
			d.Conversation = c
		case dataMessage:
			if isJSONNull(v) {
				continue
			}
			m := new(chatshipper.Message)
			if err := wire.Unmarshal(v, m); err != nil {
				return fmt.Errorf("data.message: %w", err)
			}
			d.Message = m
		case dataLinks:
			links, err := decodeLinks(v)
			if err != nil {
				return fmt.Errorf("data.links: %w", err)
			}
			d.Links = links
		default:
			if d.Resources == nil {
				d.Resources = make(map[string]json.RawMessage, len(raw))
			}
			d.Resources[k] = v
		}
	}
	d.linkMessage()
	return nil
}

// linkMessage gives the message its conversation reference when the payload
// left it out: a reply needs it, and the payload names it next to the message.
func (d *EventData) linkMessage() {
	m := d.Message
	if m == nil || m.Conversation.ID != "" {
		return
	}
	if d.Conversation != nil && d.Conversation.ID != "" {
		m.Conversation = chatshipper.NewRef[chatshipper.Conversation](d.Conversation.ID)
	} else if id := lastPathSegment(d.Links[dataConversation]); chatshipper.IsValidID(id) {
		m.Conversation = chatshipper.NewRef[chatshipper.Conversation](id)
	}
}

// decodeLinks reads data.links. The link set is documented only by example, so
// a value that is not a string is skipped rather than failing the event.
func decodeLinks(v json.RawMessage) (map[string]string, error) {
	if isJSONNull(v) {
		return nil, nil
	}
	var links map[string]string
	if err := wire.Unmarshal(v, &links); err == nil {
		return links, nil
	}
	var loose map[string]any
	if err := wire.Unmarshal(v, &loose); err != nil {
		return nil, err
	}
	links = make(map[string]string, len(loose))
	for k, x := range loose {
		if s, ok := x.(string); ok {
			links[k] = s
		}
	}
	return links, nil
}

func isJSONNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// eventHead is the top level of a payload, without data.
type eventHead struct {
	ID           string                                    `json:"id"`
	Event        string                                    `json:"event"`
	Timestamp    chatshipper.Timestamp                     `json:"timestamp"`
	Organization chatshipper.Ref[chatshipper.Organization] `json:"organization"`
	Activity     *Activity                                 `json:"activity"`
}

// eventTyped is a payload with data's known keys typed, decoded in one pass:
// by decodeEventFast (fastdecode.go), or by encoding/json where that
// gives up. Splitting data into raw values first (eventSplit) would walk the
// big conversation and message objects three more times.
type eventTyped struct {
	eventHead
	Data eventTypedData `json:"data"`

	act Activity // where decodeEventFast puts Activity (one allocation less); the codec ignores it
}

// eventTypedData is the data of a message event.
type eventTypedData struct {
	Conversation *chatshipper.Conversation `json:"conversation"`
	Message      *chatshipper.Message      `json:"message"`
	Links        map[string]string         `json:"links"`

	// Where decodeEventFast puts Conversation and Message, so that an event
	// and its resources are one allocation; the codec ignores them.
	conv chatshipper.Conversation
	msg  chatshipper.Message
}

// eventSplit decodes a payload with data split into its keys, so that every
// key is seen; the resources are decoded afterwards (EventData.fill).
type eventSplit struct {
	eventHead
	Data map[string]json.RawMessage `json:"data"`
}

// ParseEvent decodes a webhook body into an Event. The body must be a JSON
// object with a non-empty "event"; otherwise the error matches
// ErrInvalidEvent. A data.conversation or data.message whose fields have the
// wrong JSON types is an error too, rather than an event with holes. Event.Raw
// is a copy of body. ParseEvent does not check the signature: call
// [VerifySignature] on the same bytes first.
//
// Payloads: https://developers.web1on1.chat/webhooks/payloads
func ParseEvent(body []byte) (*Event, error) {
	return parseEvent(bytes.Clone(body))
}

// parseEvent decodes body, which the returned Event keeps as Raw.
//
// Message events, the hot path of a bot, take one typed pass (the SDK's own
// decoder, with encoding/json deciding whatever it is not sure of): their data
// is documented as conversation, message and links, so Resources stays nil
// and Event.Resource looks for anything else in Raw. Every other event (small,
// and mostly about the resources in Resources) takes the split pass, which
// sees every data key; so does a message event the typed pass refuses, for
// instance for a link that is not a string.
func parseEvent(body []byte) (*Event, error) { return decodeEvent(body, true) }

// decodeEvent is parseEvent, with the fast decoder (fastdecode.go)
// tried first when fast is set; tests compare the two ways.
func decodeEvent(body []byte, fast bool) (*Event, error) {
	te := new(typedEvent)
	t := &te.typed
	ok := fast && decodeEventFast(body, t)
	if !ok {
		*t = eventTyped{}
		ok = wire.Unmarshal(body, t) == nil
	}
	if ok && strings.HasPrefix(t.Event, "message.") {
		e := &te.ev
		e.setHead(&t.eventHead, body)
		e.Data.Conversation, e.Data.Message, e.Data.Links = t.Data.Conversation, t.Data.Message, t.Data.Links
		e.Data.linkMessage()
		return e, nil
	}
	var w eventSplit
	if err := wire.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if w.Event == "" {
		return nil, fmt.Errorf("%w: no \"event\" name", ErrInvalidEvent)
	}
	e := newEvent(&w.eventHead, body)
	if err := e.Data.fill(w.Data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return e, nil
}

// typedEvent is a message event and what it is decoded into, in one
// allocation.
type typedEvent struct {
	ev    Event
	typed eventTyped
}

func newEvent(h *eventHead, body []byte) *Event {
	e := new(Event)
	e.setHead(h, body)
	return e
}

func (e *Event) setHead(h *eventHead, body []byte) {
	e.ID, e.Name, e.Timestamp = h.ID, h.Event, h.Timestamp
	e.Organization, e.Activity, e.Raw = h.Organization.ID, h.Activity, body
}

// IsMessage reports whether the event is a message event (its name starts
// with "message.").
func (e *Event) IsMessage() bool { return strings.HasPrefix(e.Name, "message.") }

// isMessageCreate reports whether the event announces a new message.
func (e *Event) isMessageCreate() bool { return strings.HasPrefix(e.Name, "message.create.") }

// ConversationID returns the ID of the conversation the event is about:
// data.conversation.id, else the message's conversation, else "".
func (e *Event) ConversationID() string {
	if c := e.Data.Conversation; c != nil && c.ID != "" {
		return c.ID
	}
	if m := e.Data.Message; m != nil {
		return m.Conversation.ID
	}
	return ""
}

// ConversationType returns the type of the event's conversation: from
// data.conversation, else from a message.create.<type>.<...> event name, else "".
func (e *Event) ConversationType() chatshipper.ConversationType {
	if c := e.Data.Conversation; c != nil && c.Type != "" {
		return c.Type
	}
	if w := messageCreateWord(e.Name, 2); w != "" {
		return chatshipper.ConversationType(w)
	}
	return ""
}

// MessageType returns the type of the event's message: from data.message,
// else from a message.create.<...>.<type> event name, else [chatshipper.MessageTypeChat]
// (the API's default type) when the event has a message, else "".
func (e *Event) MessageType() chatshipper.MessageType {
	if m := e.Data.Message; m != nil && m.Type != "" {
		return m.Type
	}
	if w := messageCreateWord(e.Name, 3); w != "" {
		return chatshipper.MessageType(w)
	}
	if e.Data.Message != nil {
		return chatshipper.MessageTypeChat
	}
	return ""
}

// messageCreateWord returns word i of a four-word message.create name.
func messageCreateWord(name string, i int) string {
	if !strings.HasPrefix(name, "message.create.") {
		return ""
	}
	words := strings.Split(name, ".")
	if len(words) != 4 {
		return ""
	}
	return words[i]
}

// Resource decodes data.<name> into v (a pointer), e.g.
//
//	var svc chatshipper.Service
//	err := e.Resource("service", &svc)
//
// "conversation", "message" and "links" are served from the typed fields. It
// returns an error matching ErrNoResource when the event has no such key.
func (e *Event) Resource(name string, v any) error {
	if raw, ok := e.Data.Resources[name]; ok {
		return wire.Unmarshal(raw, v)
	}
	var src any
	switch name {
	case dataConversation:
		if e.Data.Conversation != nil {
			src = e.Data.Conversation
		}
	case dataMessage:
		if e.Data.Message != nil {
			src = e.Data.Message
		}
	case dataLinks:
		if e.Data.Links != nil {
			src = e.Data.Links
		}
	}
	if src == nil {
		if raw := e.rawResource(name); raw != nil {
			return wire.Unmarshal(raw, v)
		}
		return fmt.Errorf("%w: data.%s", ErrNoResource, wire.Truncate(name, 64))
	}
	b, err := wire.Marshal(src)
	if err != nil {
		return err
	}
	return wire.Unmarshal(b, v)
}

// rawResource finds data.<name> in Raw, for the keys a message event's fast
// decoding pass did not keep. It returns nil when there is none.
func (e *Event) rawResource(name string) json.RawMessage {
	if e.Data.Resources != nil || len(e.Raw) == 0 {
		return nil // the split pass saw every key already
	}
	switch name {
	case dataConversation, dataMessage, dataLinks:
		return nil
	}
	var w struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if wire.Unmarshal(e.Raw, &w) != nil {
		return nil
	}
	if raw := w.Data[name]; raw != nil && !isJSONNull(raw) {
		return raw
	}
	return nil
}
