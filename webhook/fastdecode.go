package webhook

import (
	"github.com/go-chatshipper/chatshipper/internal/fastjson"
)

// The one-pass decoder of message events, the webhook hot path, built on
// every Go version. Package internal/fastjson has the reader and why it
// exists (encoding/json/v2, the codec from Go 1.27, costs about twice its
// CPU on a message event: BenchmarkEventDecode; BENCHMARKS.md, "Webhooks");
// the event's own tables are here, the conversation's and the message's are
// package chatshipper's, beside the models (fastjson.Model).
//
// It speeds the codec up and never overrules it: when it gives up,
// parseEvent decodes the body with the codec, which then decides.
//
// The guards: FuzzEventFastDecode compares the two decoders on arbitrary
// input, TestEventFastDecodeEveryField on a payload with every field of every
// decoded type set (a model field added without a line in its table fails
// it), and TestEventFastDecodeGivesUp lists the cases fastjson gives up on.

// fastModel reads one of package chatshipper's models with its tables.
func fastModel(r *fastjson.Reader, dst any) {
	if !fastjson.Model(r, dst) {
		r.Fail()
	}
}

// The field tables, in the order the platform sends the fields. They must
// list every JSON name of their types (TestFastFieldTables).
var (
	fastEventFields = []fastjson.Field[eventTyped]{
		{Name: "id", Dec: func(r *fastjson.Reader, e *eventTyped) { fastjson.String(r, &e.ID) }},
		{Name: "event", Dec: func(r *fastjson.Reader, e *eventTyped) { fastjson.String(r, &e.Event) }},
		{Name: "timestamp", Dec: func(r *fastjson.Reader, e *eventTyped) { fastModel(r, &e.Timestamp) }},
		{Name: "organization", Dec: func(r *fastjson.Reader, e *eventTyped) { fastModel(r, &e.Organization) }},
		{Name: "activity", Dec: func(r *fastjson.Reader, e *eventTyped) {
			if !r.Null() {
				e.Activity = &e.act
				fastjson.Struct(r, e.Activity, fastActivityFields)
			}
		}},
		{Name: "data", Dec: func(r *fastjson.Reader, e *eventTyped) { fastjson.Struct(r, &e.Data, fastDataFields) }},
	}

	fastActivityFields = []fastjson.Field[Activity]{
		{Name: "@context", Dec: func(r *fastjson.Reader, a *Activity) { fastjson.String(r, &a.Context) }},
		{Name: "type", Dec: func(r *fastjson.Reader, a *Activity) { fastjson.String(r, &a.Type) }},
		{Name: "actor", Dec: func(r *fastjson.Reader, a *Activity) { fastjson.Struct(r, &a.Actor, fastActivityObjectFields) }},
		{Name: "object", Dec: func(r *fastjson.Reader, a *Activity) { fastjson.Struct(r, &a.Object, fastActivityObjectFields) }},
		{Name: "published", Dec: func(r *fastjson.Reader, a *Activity) { fastModel(r, &a.Published) }},
		{Name: "summary", Dec: func(r *fastjson.Reader, a *Activity) { fastjson.String(r, &a.Summary) }},
	}

	fastActivityObjectFields = []fastjson.Field[ActivityObject]{
		{Name: "id", Dec: func(r *fastjson.Reader, o *ActivityObject) { fastjson.String(r, &o.ID) }},
		{Name: "type", Dec: func(r *fastjson.Reader, o *ActivityObject) { fastjson.String(r, &o.Type) }},
	}

	fastDataFields = []fastjson.Field[eventTypedData]{
		{Name: "conversation", Dec: func(r *fastjson.Reader, d *eventTypedData) {
			if !r.Null() {
				d.Conversation = &d.conv
				fastModel(r, d.Conversation)
			}
		}},
		{Name: "message", Dec: func(r *fastjson.Reader, d *eventTypedData) {
			if !r.Null() {
				d.Message = &d.msg
				fastModel(r, d.Message)
			}
		}},
		{Name: "links", Dec: func(r *fastjson.Reader, d *eventTypedData) { fastjson.StringMap(r, &d.Links) }},
	}
)

// decodeEventFast decodes body into t, which must be zero, and reports
// whether it could; when it could not, t holds partial results and the
// caller decodes again with the codec.
func decodeEventFast(body []byte, t *eventTyped) bool {
	r := fastjson.NewReader(body, true)
	defer r.Release()
	if r.Peek() != '{' { // the codec decides what null or a non-object means
		return false
	}
	fastjson.Struct(r, t, fastEventFields)
	r.End()
	return !r.Bad()
}
