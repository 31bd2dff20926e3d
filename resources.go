package chatshipper

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"strings"
)

// Resource is the CRUD service of one API collection: T is the resource, C
// the body that creates one and U the body of a PATCH. Every typed service
// embeds it (the service's doc comment names the collection), and
// Client.Collection serves any collection with it over Document. All six
// methods validate their arguments before any I/O: a malformed ID or a nil
// body is an *ArgumentError (errors.Is ErrInvalidArgument), a bad query a
// *QueryError (errors.Is ErrInvalidQuery), and no request is made.
//
// The zero Resource is not usable: take the services of a Client from
// NewClient.
type Resource[T, C, U any] struct {
	client *Client
	path   string // the collection, relative to the base URL: "contacts"
	idName string // the ID argument's name in errors: "contactID"
	err    error  // why the collection was refused (Client.Collection)
}

func newResource[T, C, U any](c *Client, collection, idName string) Resource[T, C, U] {
	return Resource[T, C, U]{client: c, path: collection, idName: idName}
}

// Path returns the collection's path relative to the API base, e.g.
// "contacts" for /v2/contacts.
func (s *Resource[T, C, U]) Path() string { return s.path }

func (s *Resource[T, C, U]) check() error {
	if s.err != nil {
		return s.err
	}
	if s.client == nil {
		return argError("service", "not initialised: use the services of a Client made by NewClient")
	}
	return nil
}

// List returns one page of the collection; q may filter, select, populate,
// sort and page (nil lists the first page with the server's defaults). The
// *Response carries the totals and offsets of the listing.
//
// GET /v2/{collection}
func (s *Resource[T, C, U]) List(ctx context.Context, q *Query) ([]*T, *Response, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	return listPage[T](ctx, s.client, s.path, q)
}

// ListIter returns every item of the collection matching q, 200 per request
// unless q sets a limit, with the next page fetched while the loop works on
// the current one; it stops when the loop breaks. An error is yielded once
// and ends the sequence. Each item that matched when the walk began and
// still does is yielded once, whatever the loop changes (see [Walk.Pages]
// for the details and for sorted queries). q is copied, never modified.
//
// GET /v2/{collection} (repeatedly)
func (s *Resource[T, C, U]) ListIter(ctx context.Context, q *Query) iter.Seq2[*T, error] {
	if err := s.check(); err != nil {
		return errSeq[*T](err)
	}
	return listIter[T](ctx, s.client, s.path, q, nil)
}

// Walk returns a walk over every item of the collection matching q, with
// its progress (total, page, count) readable inside the loop and the pages
// available whole; ListIter is Walk(ctx, q).Items(). See [Walk.Pages] for
// what a walk guarantees when the loop changes items, and [Prefetch] and
// [Concurrency] for the options. q is copied, never modified.
//
// GET /v2/{collection} (repeatedly)
func (s *Resource[T, C, U]) Walk(ctx context.Context, q *Query, opts ...WalkOption) *Walk[T] {
	if err := s.check(); err != nil {
		return errWalk[T](err)
	}
	return newWalk[T](ctx, s.client, s.path, q, opts, nil)
}

// Pages returns every page of the collection matching q, each with its
// *Response; it is Walk(ctx, q, opts...).Pages().
//
// GET /v2/{collection} (repeatedly)
func (s *Resource[T, C, U]) Pages(ctx context.Context, q *Query, opts ...WalkOption) iter.Seq2[*Page[T], error] {
	return s.Walk(ctx, q, opts...).Pages()
}

// Get returns one item; q may select and populate fields (nil for all
// fields, nothing populated).
//
// GET /v2/{collection}/{id}
func (s *Resource[T, C, U]) Get(ctx context.Context, id string, q *Query) (*T, *Response, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	return getOne[T](ctx, s.client, s.path, s.idName, id, q)
}

// Create creates an item from body and returns it as stored.
//
// POST /v2/{collection}
func (s *Resource[T, C, U]) Create(ctx context.Context, body *C) (*T, *Response, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	if err := checkBody(body); err != nil {
		return nil, nil, err
	}
	return sendBody[T](ctx, s.client, http.MethodPost, s.path, body)
}

// Update changes an item and returns it as stored. Only the fields set in
// body are sent; the server merges top-level fields and replaces nested
// objects and arrays (meta, params, profile, ...) whole.
//
// PATCH /v2/{collection}/{id}
func (s *Resource[T, C, U]) Update(ctx context.Context, id string, body *U) (*T, *Response, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	path, err := itemPath(s.path, s.idName, id)
	if err != nil {
		return nil, nil, err
	}
	if err := checkBody(body); err != nil {
		return nil, nil, err
	}
	return sendBody[T](ctx, s.client, http.MethodPatch, path, body)
}

// Delete deletes an item.
//
// DELETE /v2/{collection}/{id}
func (s *Resource[T, C, U]) Delete(ctx context.Context, id string) (*Response, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return deleteOne(ctx, s.client, s.path, s.idName, id)
}

// checkBody refuses a nil body and lets a body check itself.
func checkBody[B any](body *B) error {
	if body == nil {
		return argError("body", "must not be nil")
	}
	if v, ok := any(body).(validator); ok {
		return v.validate()
	}
	return nil
}

// sendBody sends a create or update body and decodes the answer into a T. A
// *Document goes out byte for byte: encoding/json would compact its fields and
// escape HTML characters (article content is HTML), and a document's fields
// are meant to go back as they came.
func sendBody[T any](ctx context.Context, c *Client, method, path string, body any) (*T, *Response, error) {
	if doc, ok := body.(*Document); ok {
		raw, err := doc.MarshalJSON()
		if err != nil {
			return nil, nil, err
		}
		body = json.RawMessage(raw)
	}
	return doJSON[T](ctx, c, method, path, body)
}

// ContactsService is the contacts API, /v2/contacts: consumers, each with a
// profile, channel presences and exactly one conversation.
type ContactsService struct {
	Resource[Contact, ContactCreate, ContactUpdate]
}

// FindByTelephone returns the contacts whose profile.telephone is telephone,
// normally at most one per organization. The number is stored in E.164 form:
// give it with its leading "+" (spaces, dashes, dots and parentheses are
// removed first); it is sent percent-encoded (%2B), so the server does not
// read the "+" as a space. organizationID, when not "", limits the search to
// one organization (needed when the token spans several).
//
// GET /v2/contacts?profile.telephone=%2B...&organization=...
func (s *ContactsService) FindByTelephone(ctx context.Context, telephone, organizationID string) ([]*Contact, *Response, error) {
	tel, err := normalizeE164(telephone)
	if err != nil {
		return nil, nil, err
	}
	q := NewQuery().Where("profile.telephone", Eq(tel))
	if organizationID != "" {
		if err := checkID("organizationID", organizationID); err != nil {
			return nil, nil, err
		}
		q = q.Where("organization", Eq(organizationID))
	}
	return s.List(ctx, q)
}

// normalizeE164 strips the usual separators and checks the E.164 form: "+",
// then up to 15 digits, the first not 0. The number is not quoted in errors
// (it is personal data).
func normalizeE164(tel string) (string, error) {
	var b strings.Builder
	for _, r := range tel {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if s == "" {
		return "", argError("telephone", "must not be empty")
	}
	if s[0] != '+' {
		return "", argError("telephone", "must be in E.164 form with a leading \"+\" and the country code")
	}
	digits := s[1:]
	if len(digits) < 2 || len(digits) > 15 || digits[0] == '0' {
		return "", argError("telephone", "must have 2 to 15 digits after \"+\", the first not 0")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", argError("telephone", "may contain only digits after \"+\"")
		}
	}
	return s, nil
}

// ErrSelfUnknown is returned by UsersService.Me when the client cannot tell
// its own user: the token is not a JWT with an _id claim and the token source
// does not name the user.
var ErrSelfUnknown = errors.New("chatshipper: the token's own user ID is unknown")

// UsersService is the users API, /v2/users: people and applications that can
// log in (viewers, agents, admins and bot users).
type UsersService struct {
	Resource[User, UserCreate, UserUpdate]
}

// Me returns the user the client's token belongs to. Every role may fetch its
// own user. The ID is read from the token's _id claim (or the login answer of
// a RefreshingTokenSource); when there is none, Me returns ErrSelfUnknown
// before any request.
//
// GET /v2/users/{id}
func (s *UsersService) Me(ctx context.Context) (*User, *Response, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	id := s.client.selfUserID(ctx)
	if id == "" {
		return nil, nil, ErrSelfUnknown
	}
	return s.Get(ctx, id, nil)
}

// OrganizationsService is the organizations API, /v2/organizations: the
// tenant hierarchy (MCC, customer organizations, sub-organizations) with
// their categories and forms. Get with NewQuery().Populate("categories.forms")
// fills each category's forms.
type OrganizationsService struct {
	Resource[Organization, OrganizationCreate, OrganizationUpdate]
}

// OrgGroupsService is the organization groups API, /v2/orggroups.
type OrgGroupsService struct {
	Resource[OrgGroup, OrgGroupCreate, OrgGroupUpdate]
}

// ChannelsService is the channels (team inboxes) API, /v2/channels.
type ChannelsService struct {
	Resource[Channel, ChannelCreate, ChannelUpdate]
}

// ServicesService is the services API, /v2/services: connectors,
// touchpoints and integrations, webhooks among them. Listing services needs
// an admin token.
type ServicesService struct {
	Resource[Service, ServiceCreate, ServiceUpdate]
}

// CreateWebhook creates a webhook: a service of type webhook whose params are
// the URL, the optional secret (generated by the platform when empty) and
// the optional event patterns. The platform then sends GET
// <url>?type=subscribe&challenge=... and the service stays unverified until
// the URL echoes the challenge. The body is validated before any I/O; the
// secret never appears in an error.
//
// POST /v2/services
func (s *ServicesService) CreateWebhook(ctx context.Context, w *WebhookServiceCreate) (*Service, *Response, error) {
	if w == nil {
		return nil, nil, argError("webhook", "must not be nil")
	}
	if err := w.validate(); err != nil {
		return nil, nil, err
	}
	return s.Create(ctx, w.serviceCreate())
}

// Verify asks the platform to verify a webhook's URL again by setting the
// service's status to active. The platform answers 403 (errors.Is
// ErrForbidden) when the URL does not echo the challenge.
//
// PATCH /v2/services/{id} {"status":"active"}
func (s *ServicesService) Verify(ctx context.Context, id string) (*Service, *Response, error) {
	active := ServiceActive
	return s.Update(ctx, id, &ServiceUpdate{Status: &active})
}

// FormsService is the forms API, /v2/forms: per-organization containers of
// fields, assigned to organization categories.
type FormsService struct {
	Resource[Form, FormCreate, FormUpdate]
}

// WorkflowsService is the workflows API, /v2/workflows: the routing rules that
// pick the channels notified when a conversation is queued.
type WorkflowsService struct {
	Resource[Workflow, WorkflowCreate, WorkflowUpdate]
}

// BotsService is the bot definitions API, /v2/bots. A bot's ID is its bot
// user's ID.
type BotsService struct {
	Resource[Bot, BotCreate, BotUpdate]
}

// BotInstancesService is the bot instances API, /v2/botinstances: the
// per-organization copies of a bot with their configuration. The official
// SDK reads a bot's configuration with
// NewQuery().Where("bot", Eq(botID)).Where("organization", In(orgPath...)).Sort("orgPath").
type BotInstancesService struct {
	Resource[BotInstance, BotInstanceCreate, BotInstanceUpdate]
}

// CollectionService serves any collection with the six CRUD methods over
// Document, which keeps every field: the escape hatch for the collections
// the SDK has no type for (kbases, kbitems, articles, files, locations,
// watemplates, metrics, points, partners, tests, testresults, links) and for
// any added later. Update sends every field of its Document: to change a few
// fields, send a Document holding only those.
type CollectionService struct {
	Resource[Document, Document, Document]
}

// Err returns why the collection name was refused, or nil. Every method of a
// refused collection returns this error before any I/O.
func (s *CollectionService) Err() error { return s.err }

// maxCollectionName bounds a collection name; the API's longest is 11.
const maxCollectionName = 64

// Collection returns the service of the collection name (/v2/{name}), e.g.
// c.Collection("kbases"). The name must be 1 to 64 lowercase ASCII letters;
// any other name ("", "..", "a/b", "Users", ...) is refused: the service's
// Err reports it and every method returns it before any I/O.
func (c *Client) Collection(name string) *CollectionService {
	s := &CollectionService{newResource[Document, Document, Document](c, name, "documentID")}
	if err := checkCollectionName(name); err != nil {
		s.err = err
	}
	return s
}

func checkCollectionName(name string) error {
	if name == "" {
		return argError("collection", "must not be empty")
	}
	if len(name) > maxCollectionName {
		return argError("collection", "longer than %d characters", maxCollectionName)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 'a' || name[i] > 'z' {
			return argError("collection", "%s: only lowercase letters a-z are allowed", quoteQueryValue(name))
		}
	}
	return nil
}

// initResources sets up the typed resource services of a new client.
func (c *Client) initResources() {
	c.Contacts = &ContactsService{newResource[Contact, ContactCreate, ContactUpdate](c, "contacts", "contactID")}
	c.Users = &UsersService{newResource[User, UserCreate, UserUpdate](c, "users", "userID")}
	c.Organizations = &OrganizationsService{newResource[Organization, OrganizationCreate, OrganizationUpdate](c, "organizations", "organizationID")}
	c.OrgGroups = &OrgGroupsService{newResource[OrgGroup, OrgGroupCreate, OrgGroupUpdate](c, "orggroups", "orgGroupID")}
	c.Channels = &ChannelsService{newResource[Channel, ChannelCreate, ChannelUpdate](c, "channels", "channelID")}
	c.Services = &ServicesService{newResource[Service, ServiceCreate, ServiceUpdate](c, "services", "serviceID")}
	c.Forms = &FormsService{newResource[Form, FormCreate, FormUpdate](c, "forms", "formID")}
	c.Workflows = &WorkflowsService{newResource[Workflow, WorkflowCreate, WorkflowUpdate](c, "workflows", "workflowID")}
	c.Bots = &BotsService{newResource[Bot, BotCreate, BotUpdate](c, "bots", "botID")}
	c.BotInstances = &BotInstancesService{newResource[BotInstance, BotInstanceCreate, BotInstanceUpdate](c, "botinstances", "botInstanceID")}
}
