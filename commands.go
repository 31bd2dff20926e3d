package chatshipper

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Commands (https://developers.chatshipper.com/docs/messaging-commands) are messages of type "command" whose text starts
// with "/" (system commands, which change the conversation's state) or ">"
// (bot commands, which only automations act on). Each constructor below
// returns a MessageInput producing exactly the body the API documents; it
// never panics and never returns an error of its own: a refused argument is
// kept in the value (Err) and makes Create, Send and Command refuse the whole
// batch before any I/O.

// Touchpoint is a kind of consumer endpoint a conversation can be routed to.
type Touchpoint string

// The touchpoints /set @touchpoint accepts (https://developers.chatshipper.com/docs/messaging-commands).
const (
	TouchpointWeb      Touchpoint = "web"      // the web chat widget
	TouchpointEmail    Touchpoint = "email"    // e-mail
	TouchpointSMS      Touchpoint = "sms"      // text messages
	TouchpointFacebook Touchpoint = "facebook" // Facebook Messenger
)

func (tp Touchpoint) known() bool {
	switch tp {
	case TouchpointWeb, TouchpointEmail, TouchpointSMS, TouchpointFacebook:
		return true
	}
	return false
}

// maxCategoryIndex is the last category slot: organizations have ten (0-9).
const maxCategoryIndex = 9

func command(text string) MessageInput {
	return MessageInput{Type: MessageTypeCommand, Text: text}
}

// Notify queues a closed conversation: it runs the workflows of the
// conversation's organization and its ancestors and notifies the channels they
// find for the queued state.
func Notify() MessageInput { return command("/notify") }

// NotifyOrganizations is Notify restricted to the routing rules of the given
// organizations (meta.organizations), instead of those of the conversation's
// organization and its ancestors. At least one organization ID is required.
func NotifyOrganizations(orgIDs ...string) MessageInput {
	m := Notify()
	ids, err := idList("orgIDs", orgIDs)
	if err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("organizations", ids)
}

// NotifyChannels notifies exactly the given channels (team inboxes,
// meta.channels), bypassing every organization workflow. At least one channel
// ID is required.
func NotifyChannels(channelIDs ...string) MessageInput {
	m := Notify()
	ids, err := idList("channelIDs", channelIDs)
	if err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("channels", ids)
}

// Assign assigns the conversation to the given users (meta.users): each
// becomes a participant with the inbox flag set, which is cleared when the
// user accepts. At least one user ID is required.
func Assign(userIDs ...string) MessageInput {
	m := command("/assign")
	ids, err := idList("userIDs", userIDs)
	if err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("users", ids)
}

// Join adds the user (the API user, or the one given with As) as a passive
// participant with the active flag set. A queued or active conversation keeps
// its status, so a queued one keeps notifying channels; a closed one is
// re-opened (active).
func Join() MessageInput { return command("/join") }

// Accept makes the user (the API user, or the one given with As) responsible
// for the conversation: it sets status active, sets the user's active and
// accepted flags, sends channel dequeue notifications and clears channels and
// channelsOffline. The conversation stays active until the last accepting
// agent leaves.
func Accept() MessageInput { return command("/accept") }

// Leave unassigns the user (the API user, or the one given with As) and sets
// the status to closed when the consumer's last message was answered by an
// agent; otherwise to queued, running the workflows and notifying channels
// again.
func Leave() MessageInput { return command("/leave") }

// Close is the "/close" alias of Leave: it unassigns the user and closes the
// conversation, or queues it again when the consumer's last message is
// unanswered.
func Close() MessageInput { return command("/close") }

// Forward hands the conversation from one agent to another as the commands
// documentation describes it
// (https://developers.chatshipper.com/docs/messaging-commands): a /leave for
// fromUserID followed by a /join for toUserID (the documentation says the order
// does not matter in practice; the outcomes below are for this order). Send both in one call. The two IDs must be valid and differ; a
// refusal is kept in the message concerned.
//
// The outcome follows from the documented lifecycle and the /leave and /join
// rules. toUserID ends as an active participant that has not accepted (send
// Accept().As(toUserID) to make the user responsible). The status, by the
// status the conversation had before:
//
//   - queued: stays queued while the contact's last message is unanswered;
//     otherwise the /leave closes it and the /join re-opens it: active.
//   - active: stays active when another agent has accepted it too; otherwise
//     active when the contact's last message was answered (closed by the
//     /leave, re-opened by the /join), queued again when it was not.
//   - closed: becomes active (joining re-opens a closed conversation).
//   - archived: stays archived.
func Forward(fromUserID, toUserID string) []MessageInput {
	leave := Leave().as("fromUserID", fromUserID)
	join := Join().as("toUserID", toUserID)
	if join.err == nil && leave.err == nil && strings.EqualFold(fromUserID, toUserID) {
		join = join.withErr(argError("toUserID", "must differ from fromUserID"))
	}
	return []MessageInput{leave, join}
}

// Block blocks the contact (by IP address) from sending further messages and
// closes the conversation.
func Block() MessageInput { return command("/block") }

// SetName changes the conversation's name, the identifier the UI shows (it
// starts as a random fantasy name). The name must be one non-blank line.
func SetName(name string) MessageInput {
	m := command("/set @name " + name)
	if err := oneLine("name", name); err != nil {
		return m.withErr(err)
	}
	return m
}

// SetCategory changes the conversation's active category, by name. Category
// names may change; SetCategoryIndex is sturdier. A name that is an integer is
// refused, because the server would read it as a category index.
func SetCategory(name string) MessageInput {
	m := command("/set @category " + name)
	if err := oneLine("name", name); err != nil {
		return m.withErr(err)
	}
	if _, err := strconv.Atoi(strings.TrimSpace(name)); err == nil {
		return m.withErr(argError("name", "%q would be read as a category index: use SetCategoryIndex", name))
	}
	return m
}

// SetCategoryIndex changes the conversation's active category to the
// zero-based slot index (0-9) configured for the organization.
func SetCategoryIndex(index int) MessageInput {
	m := command("/set @category " + strconv.Itoa(index))
	if index < 0 || index > maxCategoryIndex {
		return m.withErr(argError("index", "category slot %d is out of range 0-%d", index, maxCategoryIndex))
	}
	return m
}

// SetTouchpoint changes the contact's target touchpoint: later agent messages
// are routed there, falling back to the other touchpoints in the order web,
// facebook, email, sms. Only the four Touchpoint constants are accepted.
func SetTouchpoint(tp Touchpoint) MessageInput {
	m := command("/set @touchpoint " + string(tp))
	if !tp.known() {
		return m.withErr(argError("touchpoint", "%q is not one of web, email, sms, facebook", truncate(string(tp), 32)))
	}
	return m
}

// SetLanguage changes the conversation's language, a two-letter lowercase
// code as Google's Translation API returns it ("de", "en").
func SetLanguage(code string) MessageInput {
	m := command("/set @language " + code)
	if len(code) != 2 || !isLowerASCII(code[0]) || !isLowerASCII(code[1]) {
		return m.withErr(argError("code", "%q is not a two-letter lowercase language code", truncate(code, 32)))
	}
	return m
}

// SetMeta sets conversation.meta[key] to the string value, where backend
// automations read it. The key must be one word not starting with "@" (those
// are conversation properties: use SetName, SetCategory, ...); the value one
// non-empty line. For other JSON values, or several keys, use SetMetaValues.
func SetMeta(key, value string) MessageInput {
	m := command("/set " + key + " " + value)
	if err := metaKey("key", key, true); err != nil {
		return m.withErr(err)
	}
	if err := oneLine("value", value); err != nil {
		return m.withErr(err)
	}
	return m
}

// SetMetaValues merges every key of values into conversation.meta; the values
// may be any JSON (numbers, lists, objects). The map must not be empty and no
// key may be empty or start with "@". The map is copied: later changes to it
// do not alter the message.
func SetMetaValues(values Meta) MessageInput {
	m := command("/set")
	if len(values) == 0 {
		return m.withErr(argError("values", "at least one key is required"))
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if err := metaKey(fmt.Sprintf("values[%q]", truncate(k, 32)), k, false); err != nil {
			return m.withErr(err)
		}
	}
	m.Meta = maps.Clone(values)
	return m
}

// Like makes the sender (the API user, or the one given with As) like the
// message messageID; the message's likes list holds up to 100 users.
func Like(messageID string) MessageInput {
	m := command("/action like")
	if err := checkID("messageID", messageID); err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("message", messageID)
}

// CommentOn adds text to the comments of the message messageID (up to 10 per
// message), with a reference to this command message. The comment must be one
// non-blank line.
func CommentOn(messageID, text string) MessageInput {
	m := command("/action comment " + text)
	if err := checkID("messageID", messageID); err != nil {
		return m.withErr(err)
	}
	if err := oneLine("text", text); err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("message", messageID)
}

// SendForms processes every completed form of the conversation, across all
// categories: it moves them from conversation.forms into
// conversation.results, adds a result message and may send e-mail
// notifications of the results.
func SendForms() MessageInput { return command("/send") }

// SendForm is SendForms for the one completed form formID (meta.form) of the
// currently active category.
func SendForm(formID string) MessageInput {
	m := SendForms()
	if err := checkID("formID", formID); err != nil {
		return m.withErr(err)
	}
	return m.withMetaValue("form", formID)
}

// Import merges the conversation originConversationID into the conversation
// the command is posted to: the origin is renamed "TRANSFERRED" and archived,
// and its messages are copied in, interwoven with the destination's by
// creation time.
func Import(originConversationID string) MessageInput {
	m := command("/import " + originConversationID)
	if err := checkID("originConversationID", originConversationID); err != nil {
		return m.withErr(err)
	}
	return m
}

// BotCommand returns the bot command ">name arg1 arg2 ...". ChatShipper
// ignores bot commands; automations listening to the conversation (bots) take
// them as triggers. The name must be one word not starting with ">"; each
// argument a non-empty single line.
func BotCommand(name string, args ...string) MessageInput {
	m := command(">" + strings.Join(append([]string{name}, args...), " "))
	if name == "" {
		return m.withErr(argError("name", "a bot command needs a name"))
	}
	if strings.HasPrefix(name, ">") {
		return m.withErr(argError("name", "must not start with \">\" (it is added)"))
	}
	if strings.ContainsFunc(name, unicode.IsSpace) {
		return m.withErr(argError("name", "must be one word (no spaces or line breaks)"))
	}
	for i, a := range args {
		if a == "" {
			return m.withErr(argError(fmt.Sprintf("args[%d]", i), "must not be empty"))
		}
		if hasLineBreak(a) {
			return m.withErr(argError(fmt.Sprintf("args[%d]", i), "must be one line (no line breaks)"))
		}
	}
	return m
}

// As sets the user the message is sent as or for (the "user" field): the
// user who joins, accepts or leaves with Join, Accept and Leave, or the author
// of any other message. Without As the API user is meant.
func (m MessageInput) As(userID string) MessageInput { return m.as("userID", userID) }

func (m MessageInput) as(name, userID string) MessageInput {
	if err := checkID(name, userID); err != nil {
		return m.withErr(err)
	}
	m.User = userID
	return m
}

// --- shared helpers of the constructors and modifiers ---

// mentionTargetReason marks the provisional error a Mention carries until
// ToUser or ToOrganization gives it a target; see withErr.
const mentionTargetReason = "needs a target: call ToUser or ToOrganization"

func isPendingTarget(err error) bool {
	ae, ok := err.(*ArgumentError)
	return ok && ae.Name == "mention" && ae.Reason == mentionTargetReason
}

// withErr records err unless an error is already kept (the first one wins).
// The provisional "mention needs a target" error gives way to any real one,
// so that clearing it in ToUser can never hide a later mistake.
func (m MessageInput) withErr(err error) MessageInput {
	if m.err == nil || isPendingTarget(m.err) {
		m.err = err
	}
	return m
}

// withMetaValue returns m with meta[key] = v in a fresh map: a message derived
// from another never shares the map it writes to.
func (m MessageInput) withMetaValue(key string, v any) MessageInput {
	meta := make(Meta, len(m.Meta)+1)
	maps.Copy(meta, m.Meta)
	meta[key] = v
	m.Meta = meta
	return m
}

// idList checks a non-empty list of resource IDs and returns a copy of it.
func idList(name string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, argError(name, "at least one ID is required")
	}
	if err := checkIDs(name, ids); err != nil {
		return nil, err
	}
	return slices.Clone(ids), nil
}

// hasLineBreak reports a character that would end a one-line command early:
// the server reads a command's text as one line.
func hasLineBreak(s string) bool {
	return strings.ContainsAny(s, "\n\r\v\f\u0085\u2028\u2029")
}

// oneLine refuses a blank value or one that spans several lines.
func oneLine(name, s string) error {
	if strings.TrimSpace(s) == "" {
		return argError(name, "must not be empty")
	}
	if hasLineBreak(s) {
		return argError(name, "must be one line (no line breaks)")
	}
	return nil
}

// metaKey refuses a key that would not address conversation.meta: empty, or
// starting with "@" (a conversation property). In a "/set key value" text the
// key also ends at the first space, so oneWord refuses any white space.
func metaKey(name, key string, oneWord bool) error {
	switch {
	case key == "":
		return argError(name, "a meta key must not be empty")
	case strings.HasPrefix(key, "@"):
		return argError(name, "a meta key must not start with \"@\" (that sets a conversation property)")
	case oneWord && strings.ContainsFunc(key, unicode.IsSpace):
		return argError(name, "a meta key must be one word (no spaces or line breaks)")
	}
	return nil
}

func isLowerASCII(c byte) bool { return c >= 'a' && c <= 'z' }
