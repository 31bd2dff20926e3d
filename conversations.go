package chatshipper

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strconv"
)

// ConversationStatus is maintained by ChatShipper; see the lifecycle in doc.go.
type ConversationStatus string

// Conversation statuses.
const (
	// StatusQueued: channels are notified (last message from the contact) or a participant's inbox flag is set.
	StatusQueued ConversationStatus = "queued"
	// StatusActive: at least one participant is active and has accepted the conversation.
	StatusActive ConversationStatus = "active"
	// StatusClosed: no active participant has it accepted and no contact message is unread.
	StatusClosed ConversationStatus = "closed"
	// StatusArchived: the conversation was merged into another one (/import).
	StatusArchived ConversationStatus = "archived"
)

// ConversationType says who started a conversation: a contact (consumer
// conversation) or an agent, bot or the system (team conversations).
type ConversationType string

// Conversation types.
const (
	ConversationContact ConversationType = "contact"
	ConversationBot     ConversationType = "bot"
	ConversationAgent   ConversationType = "agent"
	ConversationSystem  ConversationType = "system"
)

// Participant is a user taking part in a conversation.
type Participant struct {
	User        Ref[User] `json:"user,omitzero"`
	Name        string    `json:"name,omitempty"`
	Avatar      string    `json:"avatar,omitempty"`
	Role        Role      `json:"role,omitempty"`
	UnreadCount int       `json:"unreadCount"`
	// Inbox is set when the conversation is assigned to the user (or a reply
	// arrives while the user is not active); accepting clears it.
	Inbox bool `json:"inbox"`
	// Accepted is set by /accept: the user handles and closes the conversation.
	Accepted bool `json:"accepted"`
	// Active is set by /join and /accept, cleared by /leave.
	Active       bool      `json:"active"`
	Follow       bool      `json:"follow,omitempty"`
	Organization string    `json:"organization,omitempty"`
	CreatedAt    Timestamp `json:"createdAt,omitzero"`
	UpdatedAt    Timestamp `json:"updatedAt,omitzero"`
}

// Conversation is a conversation between a consumer and agents, or between
// agents (team conversation).
type Conversation struct {
	ID              string             `json:"id,omitempty"`
	Organization    Ref[Organization]  `json:"organization,omitzero"`
	OrgPath         string             `json:"orgPath,omitempty"`
	Name            string             `json:"name,omitempty"`
	Type            ConversationType   `json:"type,omitempty"`
	Slug            string             `json:"slug,omitempty"`
	URL             string             `json:"url,omitempty"`
	Status          ConversationStatus `json:"status,omitempty"`
	Participants    []Participant      `json:"participants,omitzero"`
	Messages        []Ref[Message]     `json:"messages,omitzero"`
	Channels        []string           `json:"channels,omitzero"`
	ChannelsOffline []string           `json:"channelsOffline,omitzero"`
	// Forms are the forms active in the conversation. Their schema is not
	// documented; each keeps every field it has.
	Forms []Meta `json:"forms,omitzero"`
	// Results are the processed form results. Their schema is not documented.
	Results       []Meta       `json:"results,omitzero"`
	Contact       Ref[Contact] `json:"contact,omitzero"`
	Category      string       `json:"category,omitempty"`
	CategoryIndex *int         `json:"categoryIndex,omitempty"`
	Touchpoint    string       `json:"touchpoint,omitempty"`
	Touchpoints   []string     `json:"touchpoints,omitzero"`
	Language      string       `json:"language,omitempty"`
	Meta          Object       `json:"meta,omitzero"`
	CreatedBy     Ref[User]    `json:"createdBy,omitzero"`
	CreatedAt     Timestamp    `json:"createdAt,omitzero"`
	UpdatedAt     Timestamp    `json:"updatedAt,omitzero"`
}

func (c *Conversation) refID() string { return c.ID }

// Participant returns the participant for userID, or nil.
func (c *Conversation) Participant(userID string) *Participant {
	for i := range c.Participants {
		if c.Participants[i].User.ID == userID {
			return &c.Participants[i]
		}
	}
	return nil
}

// MessageInput is a message to send: an ordinary message (Chat, Card, ...) or
// a command (Notify, Accept, SetMeta, ...). Constructors validate their
// arguments and keep the first error in the value; Create, Send and Command
// refuse a batch holding an invalid message before any I/O, among them one
// whose meta (or an action's meta, or a result's values) cannot be encoded
// as JSON: an *ArgumentError naming the key. The exported fields may also be
// set directly.
type MessageInput struct {
	Type          MessageType  `json:"type,omitempty"`
	Text          string       `json:"text"`
	Role          Role         `json:"role,omitempty"`
	User          string       `json:"user,omitempty"`
	ContentType   string       `json:"contentType,omitempty"`
	IsBackchannel bool         `json:"isBackchannel,omitempty"`
	Touchpoint    string       `json:"touchpoint,omitempty"`
	Delay         int          `json:"delay,omitempty"` // milliseconds before the message is processed
	Meta          Meta         `json:"meta,omitempty"`
	Actions       []Action     `json:"actions,omitempty"`
	Items         []CardItem   `json:"items,omitempty"`
	Results       []FormResult `json:"results,omitempty"`

	err error
}

// Err returns the error a constructor found in its arguments, or nil.
func (m MessageInput) Err() error { return m.err }

// validate is the check every message passes before it is sent.
func (m MessageInput) validate(name string) error {
	if m.err != nil {
		return m.err
	}
	if m.Text == "" {
		return argError(name, "text is required")
	}
	if m.User != "" {
		if err := checkID(name+".user", m.User); err != nil {
			return err
		}
	}
	if m.Delay < 0 {
		return argError(name, "delay must not be negative")
	}
	return m.checkEncodable(name)
}

// checkEncodable refuses a message whose free-form values (its meta, its
// actions' meta, its results' values) cannot be encoded as JSON (a func, a
// channel, NaN, a MarshalJSON that fails), naming the key, so that such a
// message fails alone, before any I/O, instead of failing its request.
func (m *MessageInput) checkEncodable(name string) error {
	if err := checkEncodableMeta(name+".meta", m.Meta); err != nil {
		return err
	}
	for i := range m.Actions {
		if err := checkEncodableMeta(name+".actions["+strconv.Itoa(i)+"].meta", m.Actions[i].Meta); err != nil {
			return err
		}
	}
	for i := range m.Items {
		for j := range m.Items[i].Actions {
			if err := checkEncodableMeta(name+".items["+strconv.Itoa(i)+"].actions["+strconv.Itoa(j)+"].meta", m.Items[i].Actions[j].Meta); err != nil {
				return err
			}
		}
	}
	for i := range m.Results {
		if err := checkEncodableMeta(name+".results["+strconv.Itoa(i)+"].values", m.Results[i].Values); err != nil {
			return err
		}
	}
	return nil
}

// checkEncodableMeta returns an *ArgumentError naming the first key (in
// sorted order) of meta whose value cannot be encoded as JSON.
func checkEncodableMeta(name string, meta Meta) error {
	if len(meta) == 0 {
		return nil
	}
	_, err := encodeJSON(meta)
	if err == nil {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if _, kerr := encodeJSON(meta[k]); kerr != nil {
			return argError(name+"."+k, "cannot be encoded as JSON: %v", kerr)
		}
	}
	return argError(name, "cannot be encoded as JSON: %v", err)
}

// validateCreate checks a create's messages and that its free-form values
// can be encoded, before any I/O.
func validateCreate(c *ConversationCreate) error {
	if err := validateMessages(c.Messages); err != nil {
		return err
	}
	if err := checkEncodableMeta("conversation.meta", c.Meta); err != nil {
		return err
	}
	if c.Contact != nil {
		if err := checkEncodableMeta("conversation.contact.meta", c.Contact.Meta); err != nil {
			return err
		}
		return checkEncodableMeta("conversation.contact.profile.address", c.Contact.Profile.Address)
	}
	return nil
}

func validateMessages(msgs []MessageInput) error {
	for i := range msgs {
		if err := msgs[i].validate("messages[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	return checkDeliveryKeys(msgs)
}

// ConversationCreate is the body of POST /v2/conversations.
type ConversationCreate struct {
	Name         string           `json:"name,omitempty"`
	Type         ConversationType `json:"type,omitempty"`
	Organization string           `json:"organization,omitempty"`
	// Contact creates a consumer conversation for this contact (business
	// initiated); give at least an e-mail address or a telephone number.
	Contact    *ContactCreate `json:"contact,omitempty"`
	Touchpoint string         `json:"touchpoint,omitempty"`
	Meta       Meta           `json:"meta,omitempty"`
	// Messages are posted in order after the conversation is created; include
	// a Notify or Assign command so someone acts on it.
	Messages []MessageInput `json:"messages,omitempty"`
}

// ConversationUpdate is the body of a conversation PATCH. Only the fields set
// are sent. Meta (and any other nested object or array) replaces the stored
// value whole: send the complete meta, not just the changed keys (or use a
// SetMeta command, which merges).
type ConversationUpdate struct {
	Name          *string  `json:"name,omitempty"`
	Category      *string  `json:"category,omitempty"`
	CategoryIndex *int     `json:"categoryIndex,omitempty"`
	Touchpoint    *string  `json:"touchpoint,omitempty"`
	Language      *string  `json:"language,omitempty"`
	Channels      []string `json:"channels,omitzero"`
	Meta          Meta     `json:"meta,omitzero"`
}

const conversationsPath = "conversations"

// Create creates a conversation and posts its initial messages in order
// (ordinary messages and commands mixed). Every message is validated, and
// checked against the loop guard, before any I/O. For a contact conversation
// whose contact already exists, the server may append to that contact's
// conversation and answer 200 instead of 201 (resp.StatusCode tells). With
// a key the caller set in c.Meta under DeliveryKeyMeta, the conversation is
// looked up by it first (one GET): when it exists it is returned, and only
// those of c.Messages with a caller-set key that it lacks are sent.
//
// POST /v2/conversations
func (s *ConversationsService) Create(ctx context.Context, c *ConversationCreate) (_ *Conversation, _ *Response, err error) {
	if err := s.r.check(); err != nil {
		return nil, nil, err
	}
	ctx, call := s.r.client.startCall(ctx, conversationsPath, "Create") // observer.go
	defer call.end(ctx, &err)
	if c == nil {
		return nil, nil, argError("conversation", "must not be nil")
	}
	if err := validateCreate(c); err != nil {
		return nil, nil, err
	}
	if c.Organization != "" {
		if err := checkID("organization", c.Organization); err != nil {
			return nil, nil, err
		}
	}
	client := s.r.client
	var batch []LoopMessage
	if client.guard != nil && len(c.Messages) > 0 {
		var err error
		if batch, err = loopBatch(c.Messages, client.guard.identical); err != nil {
			return nil, nil, err
		}
	}
	guarded, err := client.loopCheckNew(ctx, batch)
	if err != nil {
		return nil, nil, err
	}
	conv, outcomes, resp, err := s.createTracked(ctx, call, c) // delivery.go
	if guarded && conv != nil && conv.ID != "" {
		// The conversation ID is known only now, so the loop guard records the
		// initial messages afterwards (those this call may have created).
		// When the answer is lost or a 5xx, the conversation is unknown and
		// they are not recorded.
		client.loopRecordNew(ctx, conv.ID, counted(batch, outcomes))
	}
	return conv, resp, err
}

// Send posts one message, or an ordered batch, into a conversation and
// returns the created messages. Ordinary messages and commands may be mixed.
// Every message is validated and checked against the loop guard before it is
// sent: if one is refused, nothing is sent. A batch is sent as a JSON array in
// one request; a single message as an object. With delivery tracking on (the
// default, see WithDeliveryTracking) each message carries a key in its meta
// and an ambiguous outcome, a refusal (400, 413, 422) or an answer that
// does not list every message is settled by a lookup, so each message is
// stored once; a *DeliveryUnknownError says the lookup failed, or that part
// of the batch is stored (returned beside it) and the rest not sent again; a
// plain error, that none of it is stored. Messages with a key
// the caller set (see DeliveryKeyMeta) are looked up before they are sent,
// one GET for the batch, before the loop guard: those already stored are
// returned, neither sent nor counted by the guard again. Without caller-set
// keys, validation and the guard come before any I/O.
// The messages returned are in the order of msgs, whatever order the server's
// answer lists them in (placed by their delivery keys; see the package
// documentation, "Exactly-once delivery").
//
// POST /v2/conversations/{id}/messages
func (s *ConversationsService) Send(ctx context.Context, conversationID string, msgs ...MessageInput) (_ []*Message, _ *Response, err error) {
	if err := s.r.check(); err != nil {
		return nil, nil, err
	}
	ctx, call := s.r.client.startCall(ctx, conversationsPath, "Send") // observer.go
	defer call.end(ctx, &err)
	path, err := itemPath(conversationsPath, "conversationID", conversationID)
	if err != nil {
		return nil, nil, err
	}
	if len(msgs) == 0 {
		return nil, nil, argError("msgs", "at least one message is required")
	}
	if err := validateMessages(msgs); err != nil {
		return nil, nil, err
	}
	client := s.r.client
	var batch []LoopMessage
	if client.guard != nil {
		if batch, err = loopBatch(msgs, client.guard.identical); err != nil {
			return nil, nil, err
		}
	}
	// Caller-set keys are looked up first, so that the messages already
	// stored are neither sent nor counted by the loop guard again; only the
	// others are reserved.
	plan, err := client.planSend(ctx, conversationID, msgs) // delivery.go
	if err != nil {
		return nil, plan.resp, err // nothing was sent
	}
	send := plan.toSend()
	if batch != nil {
		batch = pick(batch, send)
	}
	ls, err := client.loopReserve(ctx, conversationID, batch)
	if err != nil {
		return nil, nil, err
	}
	out, outcomes, resp, err := client.sendPlanned(ctx, call, path+"/messages", conversationID, plan)
	client.loopSettle(ctx, ls, pick(outcomes, send))
	return out, resp, err
}

// Command posts one command (or any single message) into a conversation and
// returns the created message.
//
// POST /v2/conversations/{id}/messages
func (s *ConversationsService) Command(ctx context.Context, conversationID string, cmd MessageInput) (*Message, *Response, error) {
	msgs, resp, err := s.Send(ctx, conversationID, cmd)
	if err != nil {
		return nil, resp, err
	}
	if len(msgs) == 0 {
		return nil, resp, nil
	}
	return msgs[0], resp, nil
}

// messageList decodes the answer of a message POST: one object or an array.
type messageList []*Message

func (l *messageList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		m := new(Message)
		if err := decodeJSON(b, m); err != nil {
			return err
		}
		*l = messageList{m}
		return nil
	}
	var ms []*Message
	if err := decodeJSON(b, &ms); err != nil {
		return err
	}
	*l = ms
	return nil
}
