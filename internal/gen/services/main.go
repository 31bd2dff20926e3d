// Command services writes services_gen.go: the service types of the root
// package and their CRUD methods, each a one-line forward to the generic
// resource core with a doc comment that names its concrete verb and path.
// Run it with `go generate` in the repository root; TestServicesGenerated
// fails when the committed file differs from what this program writes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"
	"text/template"
)

// svc describes one service. Methods lists the CRUD methods generated for it
// (a service may declare others by hand beside them).
type svc struct {
	Type, T, C, U    string
	Path, IDName     string
	Singular, Plural string // "contact", "contacts"
	Doc              string // the type's doc comment, without the leading "// "
	Docs             string // public developer docs URL
	Methods          []string
	ListNote         string // an extra sentence for List and ListIter
	Observe          string // the client method that sees every item read, if any
}

const resourceSets = "https://developers.chatshipper.com/docs/api-resource-sets"

// all is every method the template can write; a page-by-page walk is
// Walk(ctx, q).Pages(), so no service repeats it as a method of its own.
var all = "List ListIter Walk Get Create Update Delete"

var services = []svc{
	{Type: "ConversationsService", T: "Conversation", C: "ConversationCreate", U: "ConversationUpdate",
		Path: "conversations", IDName: "conversationID", Singular: "conversation", Plural: "conversations",
		Doc:  "ConversationsService is the conversations API, /v2/conversations: the threads between a contact, agents and bots, with their lifecycle and commands. Create (with initial messages), Send and Command are declared in conversations.go.",
		Docs: "https://developers.chatshipper.com/docs/messaging-introduction", Methods: f("List ListIter Walk Get Update Delete"),
		ListNote: "A filter on a meta field needs a filter on one of id, type, participants.user, status, createdAt, categoryIndex, category, organization or updatedAt as well; a query without one is refused before any I/O.",
		Observe:  "observeConversations"},
	{Type: "MessagesService", T: "Message", C: "MessageInput", U: "MessageUpdate",
		Path: "messages", IDName: "messageID", Singular: "message", Plural: "messages",
		Doc:  "MessagesService is the messages API, /v2/messages. Messages are created with ConversationsService.Send and ConversationsService.Command (POST /v2/conversations/{id}/messages); Replace is declared in messages.go.",
		Docs: "https://developers.chatshipper.com/docs/messaging-types", Methods: f("List ListIter Walk Get Update Delete"),
		ListNote: "The API requires a filter on one of id, organization, conversation, type, role or createdAt; a query without one is refused before any I/O.",
		Observe:  "observeMessages"},
	{Type: "ContactsService", T: "Contact", C: "ContactCreate", U: "ContactUpdate",
		Path: "contacts", IDName: "contactID", Singular: "contact", Plural: "contacts",
		Doc: "ContactsService is the contacts API, /v2/contacts: consumers, each with a profile, channel presences and exactly one conversation.", Docs: resourceSets, Methods: f(all)},
	{Type: "UsersService", T: "User", C: "UserCreate", U: "UserUpdate",
		Path: "users", IDName: "userID", Singular: "user", Plural: "users",
		Doc: "UsersService is the users API, /v2/users: people and applications that can log in (viewers, agents, admins and bot users).", Docs: "https://developers.chatshipper.com/docs/pg-users", Methods: f(all)},
	{Type: "OrganizationsService", T: "Organization", C: "OrganizationCreate", U: "OrganizationUpdate",
		Path: "organizations", IDName: "organizationID", Singular: "organization", Plural: "organizations",
		Doc: "OrganizationsService is the organizations API, /v2/organizations: the tenant hierarchy (MCC, customer organizations, sub-organizations) with their categories and forms. Get with NewQuery().Populate(\"categories.forms\") fills each category's forms.", Docs: "https://developers.chatshipper.com/docs/pg-organizations", Methods: f(all)},
	{Type: "OrgGroupsService", T: "OrgGroup", C: "OrgGroupCreate", U: "OrgGroupUpdate",
		Path: "orggroups", IDName: "orgGroupID", Singular: "organization group", Plural: "organization groups",
		Doc: "OrgGroupsService is the organization groups API, /v2/orggroups.", Docs: resourceSets, Methods: f(all)},
	{Type: "ChannelsService", T: "Channel", C: "ChannelCreate", U: "ChannelUpdate",
		Path: "channels", IDName: "channelID", Singular: "channel", Plural: "channels",
		Doc: "ChannelsService is the channels (team inboxes) API, /v2/channels.", Docs: resourceSets, Methods: f(all)},
	{Type: "ServicesService", T: "Service", C: "ServiceCreate", U: "ServiceUpdate",
		Path: "services", IDName: "serviceID", Singular: "service", Plural: "services",
		Doc: "ServicesService is the services API, /v2/services: connectors, touchpoints and integrations, webhooks among them (CreateWebhook, Verify). Listing services needs an admin token.", Docs: "https://developers.web1on1.chat/webhooks/creating", Methods: f(all)},
	{Type: "FormsService", T: "Form", C: "FormCreate", U: "FormUpdate",
		Path: "forms", IDName: "formID", Singular: "form", Plural: "forms",
		Doc: "FormsService is the forms API, /v2/forms: per-organization containers of fields, assigned to organization categories.", Docs: "https://developers.web1on1.chat/messaging/formsfieldseandresults", Methods: f(all)},
	{Type: "WorkflowsService", T: "Workflow", C: "WorkflowCreate", U: "WorkflowUpdate",
		Path: "workflows", IDName: "workflowID", Singular: "workflow", Plural: "workflows",
		Doc: "WorkflowsService is the workflows API, /v2/workflows: the routing rules that pick the channels notified when a conversation is queued.", Docs: "https://developers.chatshipper.com/docs/pg-workflows", Methods: f(all)},
	{Type: "BotsService", T: "Bot", C: "BotCreate", U: "BotUpdate",
		Path: "bots", IDName: "botID", Singular: "bot", Plural: "bots",
		Doc: "BotsService is the bot definitions API, /v2/bots. A bot's ID is its bot user's ID.", Docs: resourceSets, Methods: f(all)},
	{Type: "BotInstancesService", T: "BotInstance", C: "BotInstanceCreate", U: "BotInstanceUpdate",
		Path: "botinstances", IDName: "botInstanceID", Singular: "bot instance", Plural: "bot instances",
		Doc: "BotInstancesService is the bot instances API, /v2/botinstances: the per-organization copies of a bot with their configuration. The official Node SDK reads a bot's configuration with NewQuery().Where(\"bot\", Eq(botID)).Where(\"organization\", In(orgPath...)).Sort(\"orgPath\").", Docs: resourceSets, Methods: f(all)},
	{Type: "CollectionService", T: "Document", C: "Document", U: "Document",
		Path: "{name}", IDName: "documentID", Singular: "document", Plural: "documents",
		Doc: "CollectionService serves any collection over Document, which keeps every field: the escape hatch for the collections the SDK has no type for (kbases, kbitems, articles, files, locations, watemplates, metrics, points, partners, tests, testresults, links) and for any added later. Get one with Client.Collection(name); {name} in the paths below is that name. Update sends every field of its Document: to change a few fields, send a Document holding only those. The mandatory filters of messages and conversations apply when the collection is one of those.", Docs: resourceSets, Methods: f(all)},
}

func f(s string) []string { return strings.Fields(s) }

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"has":     func(ms []string, m string) bool { return strings.Contains(" "+strings.Join(ms, " ")+" ", " "+m+" ") },
	"comment": comment,
	"trim":    func(s string) string { return strings.TrimSuffix(s, "Service") },
}).Parse(`// Code generated by internal/gen/services; DO NOT EDIT.

package chatshipper

import (
	"context"
	"iter"
)
{{range .}}{{$s := .}}
{{comment .Doc}}
//
// ChatShipper API docs: {{.Docs}}
type {{.Type}} struct {
	r resource[{{.T}}, {{.C}}, {{.U}}]
}
{{if has .Methods "List"}}
// List returns one page of {{.Plural}} matching q, which may filter, select,
// populate, sort and page (nil: the first page with the server's defaults).
// The *Response carries the totals and offsets of the listing.{{if .ListNote}}
{{comment .ListNote}}{{end}}
//
// GET /v2/{{.Path}}
func (s *{{.Type}}) List(ctx context.Context, q *Query) ([]*{{.T}}, *Response, error) {
	return s.r.list(ctx, q)
}
{{end}}{{if has .Methods "ListIter"}}
// ListIter returns every {{.Singular}} matching q, 200 per request unless q
// sets a limit, with the next page fetched while the loop works on the
// current one; it stops when the loop breaks. An error is yielded once and
// ends the sequence; q is never modified. Each {{.Singular}} that matched when
// the walk began and still exists is yielded once, whatever the loop changes
// (see [Walk] for sorted queries). It is Walk(ctx, q).Items().{{if .ListNote}}
{{comment .ListNote}}{{end}}
//
// GET /v2/{{.Path}} (repeatedly)
func (s *{{.Type}}) ListIter(ctx context.Context, q *Query) iter.Seq2[*{{.T}}, error] {
	return s.r.listIter(ctx, q)
}
{{end}}{{if has .Methods "Walk"}}
// Walk returns a walk over every {{.Singular}} matching q: [Walk.Items] for the
// {{.Plural}}, [Walk.Pages] for whole pages with their *Response, and Total,
// Page and Count readable inside the loop (from the list headers, without extra
// requests). [Prefetch] and [Concurrency] set how many pages are fetched
// ahead or at once. The query is checked before any I/O.
//
// GET /v2/{{.Path}} (repeatedly)
func (s *{{.Type}}) Walk(ctx context.Context, q *Query, opts ...WalkOption) *Walk[{{.T}}] {
	return s.r.walk(ctx, q, opts)
}
{{end}}{{if has .Methods "Get"}}
// Get returns one {{.Singular}}; q may select and populate fields (nil: all
// fields, nothing populated).
//
// GET /v2/{{.Path}}/{id}
func (s *{{.Type}}) Get(ctx context.Context, id string, q *Query) (*{{.T}}, *Response, error) {
	return s.r.get(ctx, id, q)
}
{{end}}{{if has .Methods "Create"}}
// Create creates a {{.Singular}} from body, validated before any I/O, and
// returns it as stored.
//
// POST /v2/{{.Path}}
func (s *{{.Type}}) Create(ctx context.Context, body *{{.C}}) (*{{.T}}, *Response, error) {
	return s.r.create(ctx, body)
}
{{end}}{{if has .Methods "Update"}}
// Update changes a {{.Singular}} and returns it as stored. Only the fields set
// in body are sent; the server merges top-level fields and replaces nested
// objects and arrays (meta, params, profile, ...) whole.
//
// PATCH /v2/{{.Path}}/{id}
func (s *{{.Type}}) Update(ctx context.Context, id string, body *{{.U}}) (*{{.T}}, *Response, error) {
	return s.r.update(ctx, id, body)
}
{{end}}{{if has .Methods "Delete"}}
// Delete deletes a {{.Singular}}.
//
// DELETE /v2/{{.Path}}/{id}
func (s *{{.Type}}) Delete(ctx context.Context, id string) (*Response, error) {
	return s.r.delete(ctx, id)
}
{{end}}{{end}}
// initServices sets up the services of a new client.
func (c *Client) initServices() {
{{range .}}{{if ne .Type "CollectionService"}}	c.{{trim .Type}} = &{{.Type}}{r: newResource[{{.T}}, {{.C}}, {{.U}}](c, "{{.Path}}", "{{.IDName}}")}
{{if .Observe}}	c.{{trim .Type}}.r.observe = c.{{.Observe}}
{{end}}{{end}}{{end}}}
`))

// comment wraps text into // lines of at most 80 columns.
func comment(text string) string {
	var b strings.Builder
	line := "//"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 80 && line != "//" {
			b.WriteString(line + "\n")
			line = "//"
		}
		line += " " + w
	}
	b.WriteString(line)
	return b.String()
}

func main() {
	out := flag.String("o", "services_gen.go", "output file")
	flag.Parse()
	src, err := generate()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil { //nolint:gosec // a source file, world-readable like the others
		log.Fatal(err)
	}
}

func generate() ([]byte, error) {
	for _, sv := range services {
		for _, m := range sv.Methods {
			if !strings.Contains(" "+all+" ", " "+m+" ") {
				return nil, fmt.Errorf("%s: no template for method %s", sv.Type, m)
			}
		}
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, services); err != nil {
		return nil, err
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gofmt: %w\n%s", err, buf.Bytes())
	}
	return src, nil
}
