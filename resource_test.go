package chatshipper

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	resOrgID   = "590bcf50458b716046347f36"
	resItemID  = "5f0e1d2c3b4a596877665544"
	resFormID  = "590c76bdde1b762f2113e81c"
	resBotID   = "5b2bf9dd9f3c885eb7ad7a70"
	resUserID  = "5ade8cd0c8287923aede5e0d"
	webhookSec = "whsec-CANARY-5e7d" // the secret in the webhook fixtures: never printed
)

func ptr[T any](v T) *T { return &v }

// seen is everything a test server saw of one request.
type seen struct {
	method   string
	path     string
	rawQuery string
	query    url.Values
	body     []byte
	header   http.Header
	calls    int
}

// answer replies with status and body and records the request in got.
func answer(got *seen, status int, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		var b []byte
		if r.Body != nil {
			b, _ = io.ReadAll(r.Body)
		}
		*got = seen{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, query: r.URL.Query(),
			body: b, header: r.Header.Clone(), calls: got.calls + 1}
		resp := httpmock.NewStringResponse(status, body)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	}
}

// refIDOf reads the ID of any resource model (they all have refID).
func refIDOf(v any) string {
	if r, ok := v.(interface{ refID() string }); ok {
		return r.refID()
	}
	return "<no refID>"
}

// crudCase is one call of one service with the request it must produce.
type crudCase struct {
	name   string
	method string
	path   string     // expected URL path
	query  url.Values // expected decoded query
	body   string     // expected JSON body, "" for none
	status int
	reply  string
	// then, when set, are the queries and replies of the requests after
	// the first, in order (a walk's further pages).
	then []followUp
	call func(ctx context.Context) (ids []string, err error)
}

// followUp is a request a call makes after its first: the query it must
// carry and the reply it gets.
type followUp struct {
	query url.Values
	reply string
}

// crudAPI is the method set every service with the six CRUD calls has.
type crudAPI[T, C, U any] interface {
	List(ctx context.Context, q *Query) ([]*T, *Response, error)
	ListIter(ctx context.Context, q *Query) iter.Seq2[*T, error]
	Get(ctx context.Context, id string, q *Query) (*T, *Response, error)
	Create(ctx context.Context, body *C) (*T, *Response, error)
	Update(ctx context.Context, id string, body *U) (*T, *Response, error)
	Delete(ctx context.Context, id string) (*Response, error)
}

// crudSpec describes one service for crudCases.
type crudSpec[T, C, U any] struct {
	res        crudAPI[T, C, U]
	path       string
	create     *C
	createJSON string
	update     *U
	updateJSON string
}

// crudCases builds the six calls of a service. The same table shape covers
// every service, so each service is checked for the same request details.
func crudCases[T, C, U any](sp crudSpec[T, C, U]) []crudCase {
	coll := sp.path
	base := "/v2/" + coll
	item := fmt.Sprintf(`{"id":%q,"unknownField":{"x":1}}`, resItemID)
	listQ := NewQuery().Where("organization", Eq(resOrgID)).Select("name").Sort("-createdAt").Limit(5)
	listWant := url.Values{"organization": {resOrgID}, "select": {"name"}, "sort": {"-createdAt"}, "limit": {"5"}}
	iterWant := url.Values{"organization": {resOrgID}, "select": {"name"}, "sort": {"-createdAt"}, "limit": {"5"}, "offset": {"0"}}
	// A short page without paging headers is confirmed as the last by one
	// more request (a server may cap its pages and not say so).
	iterNext := url.Values{"organization": {resOrgID}, "select": {"name"}, "sort": {"-createdAt"}, "limit": {"5"}, "offset": {"1"}}
	getQ := NewQuery().Select("name", "meta").Populate("organization", "name")
	getWant := url.Values{"select": {"name,meta"}, "populate": {"organization:name"}}
	ids := func(items []*T) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = refIDOf(it)
		}
		return out
	}
	one := func(v *T, err error) ([]string, error) {
		if err != nil {
			return nil, err
		}
		return []string{refIDOf(v)}, nil
	}
	return []crudCase{
		{name: coll + "/List", method: "GET", path: base, query: listWant, status: 200, reply: "[" + item + "]",
			call: func(ctx context.Context) ([]string, error) {
				items, _, err := sp.res.List(ctx, listQ)
				return ids(items), err
			}},
		{name: coll + "/ListIter", method: "GET", path: base, query: iterWant, status: 200, reply: "[" + item + "]",
			then: []followUp{{query: iterNext, reply: "[]"}},
			call: func(ctx context.Context) ([]string, error) {
				var out []string
				for v, err := range sp.res.ListIter(ctx, listQ) {
					if err != nil {
						return out, err
					}
					out = append(out, refIDOf(v))
				}
				return out, nil
			}},
		{name: coll + "/Get", method: "GET", path: base + "/" + resItemID, query: getWant, status: 200, reply: item,
			call: func(ctx context.Context) ([]string, error) {
				v, _, err := sp.res.Get(ctx, resItemID, getQ)
				return one(v, err)
			}},
		{name: coll + "/Create", method: "POST", path: base, query: url.Values{}, body: sp.createJSON, status: 201, reply: item,
			call: func(ctx context.Context) ([]string, error) {
				v, _, err := sp.res.Create(ctx, sp.create)
				return one(v, err)
			}},
		{name: coll + "/Update", method: "PATCH", path: base + "/" + resItemID, query: url.Values{}, body: sp.updateJSON, status: 200, reply: item,
			call: func(ctx context.Context) ([]string, error) {
				v, _, err := sp.res.Update(ctx, resItemID, sp.update)
				return one(v, err)
			}},
		{name: coll + "/Delete", method: "DELETE", path: base + "/" + resItemID, query: url.Values{}, status: 204,
			call: func(ctx context.Context) ([]string, error) {
				_, err := sp.res.Delete(ctx, resItemID)
				return []string{resItemID}, err
			}},
	}
}

// allCRUDCases covers every typed service and a generic collection.
func allCRUDCases(c *Client) []crudCase {
	kbCreate := &Document{}
	_ = kbCreate.Set("name", "FAQ")
	_ = kbCreate.Set("content", json.RawMessage(`"<p>Hi</p>"`))
	kbUpdate := &Document{}
	_ = kbUpdate.Set("enabled", true)

	var all []crudCase
	all = append(all, crudCases(crudSpec[Contact, ContactCreate, ContactUpdate]{
		res: c.Contacts, path: c.Contacts.r.path,
		create: &ContactCreate{Organization: resOrgID, Profile: ContactProfile{GivenName: "Jane", Telephone: "+441134960999",
			Address: Meta{"city": "Leeds"}}, Meta: Meta{"crmId": "C-1"}},
		createJSON: `{"organization":"` + resOrgID + `","profile":{"givenName":"Jane","telephone":"+441134960999","address":{"city":"Leeds"}},"meta":{"crmId":"C-1"}}`,
		update:     &ContactUpdate{Profile: &ContactProfile{Email: "jane@example.com"}, Blocked: ptr(true), Meta: Meta{}},
		updateJSON: `{"profile":{"email":"jane@example.com"},"blocked":true,"meta":{}}`,
	})...)
	all = append(all, crudCases(crudSpec[User, UserCreate, UserUpdate]{
		res: c.Users, path: c.Users.r.path,
		create:     &UserCreate{GivenName: "Jenny", FamilyName: "Jones", Email: "jenny@example.com", Password: canaryPassword, Status: "active"},
		createJSON: `{"givenName":"Jenny","familyName":"Jones","email":"jenny@example.com","password":"` + canaryPassword + `","status":"active"}`,
		update:     &UserUpdate{GivenName: ptr("Jen"), Meta: Meta{"team": "support"}},
		updateJSON: `{"givenName":"Jen","meta":{"team":"support"}}`,
	})...)
	all = append(all, crudCases(crudSpec[Organization, OrganizationCreate, OrganizationUpdate]{
		res: c.Organizations, path: c.Organizations.r.path,
		create: &OrganizationCreate{Name: "acme-york", DisplayName: "Acme York", Parent: resOrgID, Tags: []string{"dealer"},
			Categories: []Category{{Name: "Sales", Forms: []Ref[Form]{NewRef[Form](resFormID)}}}},
		createJSON: `{"name":"acme-york","displayName":"Acme York","parent":"` + resOrgID + `","tags":["dealer"],"categories":[{"name":"Sales","forms":["` + resFormID + `"]}]}`,
		update:     &OrganizationUpdate{Status: ptr(OrganizationActive), Tags: []string{}, Commands: json.RawMessage(`[]`)},
		updateJSON: `{"status":"active","tags":[],"commands":[]}`,
	})...)
	all = append(all, crudCases(crudSpec[OrgGroup, OrgGroupCreate, OrgGroupUpdate]{
		res: c.OrgGroups, path: c.OrgGroups.r.path,
		create:     &OrgGroupCreate{Name: "North", Organization: resOrgID},
		createJSON: `{"name":"North","organization":"` + resOrgID + `"}`,
		update:     &OrgGroupUpdate{Name: ptr("North-East")},
		updateJSON: `{"name":"North-East"}`,
	})...)
	all = append(all, crudCases(crudSpec[Channel, ChannelCreate, ChannelUpdate]{
		res: c.Channels, path: c.Channels.r.path,
		create:     &ChannelCreate{Name: "Sales team", Organization: resOrgID, Meta: Meta{"color": "blue"}},
		createJSON: `{"name":"Sales team","organization":"` + resOrgID + `","meta":{"color":"blue"}}`,
		update:     &ChannelUpdate{Meta: Meta{"color": "red"}},
		updateJSON: `{"meta":{"color":"red"}}`,
	})...)
	all = append(all, crudCases(crudSpec[Service, ServiceCreate, ServiceUpdate]{
		res: c.Services, path: c.Services.r.path,
		create:     &ServiceCreate{Organization: resOrgID, Name: "SMS", Type: ServiceTwilio, Params: Meta{"from": "+441134960000"}},
		createJSON: `{"organization":"` + resOrgID + `","name":"SMS","type":"twilio","params":{"from":"+441134960000"}}`,
		update:     &ServiceUpdate{Status: ptr(ServiceActive)},
		updateJSON: `{"status":"active"}`,
	})...)
	all = append(all, crudCases(crudSpec[Form, FormCreate, FormUpdate]{
		res: c.Forms, path: c.Forms.r.path,
		create:     &FormCreate{Organization: resOrgID, Name: "Test drive", Fields: []FormField{{Name: "Model", Key: "model"}}},
		createJSON: `{"organization":"` + resOrgID + `","name":"Test drive","fields":[{"name":"Model","key":"model"}]}`,
		update:     &FormUpdate{Fields: []FormField{{Name: "Model", Key: "model", Type: "text"}}},
		updateJSON: `{"fields":[{"name":"Model","key":"model","type":"text"}]}`,
	})...)
	all = append(all, crudCases(crudSpec[Workflow, WorkflowCreate, WorkflowUpdate]{
		res: c.Workflows, path: c.Workflows.r.path,
		create:     &WorkflowCreate{Name: "Office hours", Organization: resOrgID},
		createJSON: `{"name":"Office hours","organization":"` + resOrgID + `"}`,
		update:     &WorkflowUpdate{Meta: Meta{"priority": 2}},
		updateJSON: `{"meta":{"priority":2}}`,
	})...)
	all = append(all, crudCases(crudSpec[Bot, BotCreate, BotUpdate]{
		res: c.Bots, path: c.Bots.r.path,
		create:     &BotCreate{Name: "Review bot", Enabled: ptr(true)},
		createJSON: `{"name":"Review bot","enabled":true}`,
		update:     &BotUpdate{Enabled: ptr(false), Status: ptr(BotActive)},
		updateJSON: `{"enabled":false,"status":"active"}`,
	})...)
	all = append(all, crudCases(crudSpec[BotInstance, BotInstanceCreate, BotInstanceUpdate]{
		res: c.BotInstances, path: c.BotInstances.r.path,
		create:     &BotInstanceCreate{Bot: resBotID, Organization: resOrgID, Meta: Meta{"greeting": "Hi"}},
		createJSON: `{"bot":"` + resBotID + `","organization":"` + resOrgID + `","meta":{"greeting":"Hi"}}`,
		update:     &BotInstanceUpdate{Enabled: ptr(false), Meta: Meta{}},
		updateJSON: `{"enabled":false,"meta":{}}`,
	})...)
	all = append(all, crudCases(crudSpec[Document, Document, Document]{
		res: c.Collection("kbases"), path: "kbases",
		create:     kbCreate,
		createJSON: `{"content":"<p>Hi</p>","name":"FAQ"}`,
		update:     kbUpdate,
		updateJSON: `{"enabled":true}`,
	})...)
	return all
}

func TestResourceCRUDRequests(t *testing.T) {
	t.Parallel()
	// The case list is built once to name the subtests; each subtest runs its
	// own copy against a fresh client and transport.
	probe, _ := newTestClient(t)
	for i, tc := range allCRUDCases(probe) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			tc := allCRUDCases(c)[i]
			var got, later seen
			var laterQueries []url.Values
			mt.RegisterResponder(tc.method, "https://api.test"+tc.path, func(r *http.Request) (*http.Response, error) {
				if got.calls == 0 {
					return answer(&got, tc.status, tc.reply)(r)
				}
				reply := "[]"
				if n := len(laterQueries); n < len(tc.then) {
					reply = tc.then[n].reply
				}
				resp, err := answer(&later, tc.status, reply)(r)
				laterQueries = append(laterQueries, later.query)
				return resp, err
			})
			ids, err := tc.call(context.Background())
			require.NoError(t, err)
			assert.Equal(t, []string{resItemID}, ids, "the answer is decoded into the typed result")
			assert.Equal(t, 1+len(tc.then), mt.GetTotalCallCount())
			for i, f := range tc.then {
				require.Greater(t, len(laterQueries), i)
				assert.Equal(t, f.query, laterQueries[i], "request %d", i+2)
			}
			assert.Equal(t, tc.method, got.method)
			assert.Equal(t, tc.path, got.path)
			assert.Equal(t, tc.query, got.query)
			assert.Equal(t, "Bearer "+testToken, got.header.Get("Authorization"))
			assert.Equal(t, "application/json", got.header.Get("Accept"))
			if tc.body == "" {
				assert.Empty(t, got.body)
				assert.Empty(t, got.header.Get("Content-Type"))
			} else {
				assert.JSONEq(t, tc.body, string(got.body))
				assert.Equal(t, "application/json", got.header.Get("Content-Type"))
			}
		})
	}
}

// idCalls are the methods of a service that take an ID.
type idCalls struct {
	name   string
	idName string
	calls  map[string]func(ctx context.Context, id string) error
}

func resourceIDCalls[T, C, U any](res crudAPI[T, C, U], path, idName string, upd *U) idCalls {
	return idCalls{name: path, idName: idName, calls: map[string]func(context.Context, string) error{
		"Get":    func(ctx context.Context, id string) error { _, _, err := res.Get(ctx, id, nil); return err },
		"Update": func(ctx context.Context, id string) error { _, _, err := res.Update(ctx, id, upd); return err },
		"Delete": func(ctx context.Context, id string) error { _, err := res.Delete(ctx, id); return err },
	}}
}

func TestResourceIDsRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	services := []idCalls{
		resourceIDCalls(c.Contacts, c.Contacts.r.path, "contactID", &ContactUpdate{}),
		resourceIDCalls(c.Users, c.Users.r.path, "userID", &UserUpdate{}),
		resourceIDCalls(c.Organizations, c.Organizations.r.path, "organizationID", &OrganizationUpdate{}),
		resourceIDCalls(c.OrgGroups, c.OrgGroups.r.path, "orgGroupID", &OrgGroupUpdate{}),
		resourceIDCalls(c.Channels, c.Channels.r.path, "channelID", &ChannelUpdate{}),
		resourceIDCalls(c.Services, c.Services.r.path, "serviceID", &ServiceUpdate{}),
		resourceIDCalls(c.Forms, c.Forms.r.path, "formID", &FormUpdate{}),
		resourceIDCalls(c.Workflows, c.Workflows.r.path, "workflowID", &WorkflowUpdate{}),
		resourceIDCalls(c.Bots, c.Bots.r.path, "botID", &BotUpdate{}),
		resourceIDCalls(c.BotInstances, c.BotInstances.r.path, "botInstanceID", &BotInstanceUpdate{}),
		resourceIDCalls(c.Collection("articles"), "articles", "documentID", &Document{}),
	}
	badIDs := []string{"", "123", "../../users", "5bb0277fd99faf11a3f4a37", "5bb0277fd99faf11a3f4a37e0",
		"5bb0277fd99faf11a3f4a37e/messages", "zzzzzzzzzzzzzzzzzzzzzzzz", "5bb0277fd99faf11a3f4a37%"}
	for _, svc := range services {
		for method, call := range svc.calls {
			for _, id := range badIDs {
				t.Run(fmt.Sprintf("%s/%s/%q", svc.name, method, id), func(t *testing.T) {
					err := call(context.Background(), id)
					require.ErrorIs(t, err, ErrInvalidArgument)
					var ae *ArgumentError
					require.ErrorAs(t, err, &ae)
					assert.Equal(t, svc.idName, ae.Name)
				})
			}
		}
	}
	// Services' extra ID-taking methods.
	_, _, err := c.Services.Verify(context.Background(), "nope")
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Equal(t, 0, mt.GetTotalCallCount(), "no request was made")
}

func TestResourceBadBodiesRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		argument string
		call     func() error
	}{
		{"contact nil", "body", func() error { _, _, err := c.Contacts.Create(ctx, nil); return err }},
		{"contact update nil", "body", func() error { _, _, err := c.Contacts.Update(ctx, resItemID, nil); return err }},
		{"document nil", "body", func() error { _, _, err := c.Collection("kbases").Create(ctx, nil); return err }},
		{"contact bad org", "contact.organization", func() error {
			_, _, err := c.Contacts.Create(ctx, &ContactCreate{Organization: "acme"})
			return err
		}},
		{"user bad org", "user.organization", func() error {
			_, _, err := c.Users.Create(ctx, &UserCreate{Email: "a@b.c", Organization: "x"})
			return err
		}},
		{"organization no name", "organization.name", func() error {
			_, _, err := c.Organizations.Create(ctx, &OrganizationCreate{Name: "  "})
			return err
		}},
		{"organization bad parent", "organization.parent", func() error {
			_, _, err := c.Organizations.Create(ctx, &OrganizationCreate{Name: "x", Parent: "root"})
			return err
		}},
		{"organization empty name update", "organization.name", func() error {
			_, _, err := c.Organizations.Update(ctx, resItemID, &OrganizationUpdate{Name: ptr("")})
			return err
		}},
		{"organization bad commands", "organization.commands", func() error {
			_, _, err := c.Organizations.Update(ctx, resItemID, &OrganizationUpdate{Commands: json.RawMessage(`[`)})
			return err
		}},
		{"orggroup bad org", "orggroup.organization", func() error {
			_, _, err := c.OrgGroups.Create(ctx, &OrgGroupCreate{Organization: "x"})
			return err
		}},
		{"channel bad org", "channel.organization", func() error {
			_, _, err := c.Channels.Create(ctx, &ChannelCreate{Organization: "x"})
			return err
		}},
		{"workflow bad org", "workflow.organization", func() error {
			_, _, err := c.Workflows.Create(ctx, &WorkflowCreate{Organization: "x"})
			return err
		}},
		{"form no name", "form.name", func() error {
			_, _, err := c.Forms.Create(ctx, &FormCreate{Organization: resOrgID})
			return err
		}},
		{"form bad org", "form.organization", func() error {
			_, _, err := c.Forms.Create(ctx, &FormCreate{Name: "f", Organization: "x"})
			return err
		}},
		{"bot bad org", "bot.organization", func() error {
			_, _, err := c.Bots.Create(ctx, &BotCreate{Organization: "x"})
			return err
		}},
		{"botinstance no bot", "botinstance.bot", func() error {
			_, _, err := c.BotInstances.Create(ctx, &BotInstanceCreate{Organization: resOrgID})
			return err
		}},
		{"botinstance bad org", "botinstance.organization", func() error {
			_, _, err := c.BotInstances.Create(ctx, &BotInstanceCreate{Bot: resBotID, Organization: "x"})
			return err
		}},
		{"service no type", "service.type", func() error {
			_, _, err := c.Services.Create(ctx, &ServiceCreate{Name: "x"})
			return err
		}},
		{"service bad org", "service.organization", func() error {
			_, _, err := c.Services.Create(ctx, &ServiceCreate{Type: ServiceTwilio, Organization: "x"})
			return err
		}},
		{"webhook service without url", "service.params.url", func() error {
			_, _, err := c.Services.Create(ctx, &ServiceCreate{Type: ServiceWebhook, Params: Meta{"secret": webhookSec}})
			return err
		}},
		{"webhook service bad events", "service.params.events[1]", func() error {
			_, _, err := c.Services.Create(ctx, &ServiceCreate{Type: ServiceWebhook, Params: Meta{
				"url": "https://hooks.example.com/x", "events": []any{"message.*", "message..create"}}})
			return err
		}},
		{"webhook service events not strings", "params.events[0]", func() error {
			_, _, err := c.Services.Create(ctx, &ServiceCreate{Type: ServiceWebhook, Params: Meta{
				"url": "https://hooks.example.com/x", "events": []any{1.0}}})
			return err
		}},
		{"webhook nil", "webhook", func() error { _, _, err := c.Services.CreateWebhook(ctx, nil); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, ErrInvalidArgument)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.argument, ae.Name)
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount(), "no request was made")
}

func TestResourceBadQueryAndZeroServiceRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	bad := NewQuery().Limit(-1)
	_, _, err := c.Forms.List(ctx, bad)
	assert.ErrorIs(t, err, ErrInvalidQuery)
	_, _, err = c.Forms.Get(ctx, resItemID, bad)
	assert.ErrorIs(t, err, ErrInvalidQuery)
	n := 0
	for _, err := range c.Forms.ListIter(ctx, bad) {
		n++
		assert.ErrorIs(t, err, ErrInvalidQuery)
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, mt.GetTotalCallCount())

	// A service not made by NewClient refuses instead of panicking.
	var zero ContactsService
	_, _, err = zero.List(ctx, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = zero.Delete(ctx, resItemID)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	for _, err := range zero.ListIter(ctx, nil) {
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	_, _, err = (&UsersService{}).Me(ctx)
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestResourceErrorsAreTyped(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	mt.RegisterResponder("GET", testBase+"forms/"+resFormID, httpmock.NewStringResponder(404, `{"error":{"message":"Form not found"}}`))
	f, resp, err := c.Forms.Get(context.Background(), resFormID, nil)
	assert.Nil(t, f)
	require.ErrorIs(t, err, ErrNotFound)
	var er *ErrorResponse
	require.ErrorAs(t, err, &er)
	assert.Equal(t, "Form not found", er.Message)
	assert.Equal(t, 404, resp.StatusCode)
}

func TestResourceListIterPages(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var queries []url.Values
	mt.RegisterResponder("GET", testBase+"users", func(r *http.Request) (*http.Response, error) {
		q := r.URL.Query()
		queries = append(queries, q)
		var b strings.Builder
		b.WriteByte('[')
		off := q.Get("offset")
		for i := range 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			n, _ := strconv.Atoi(off)
			fmt.Fprintf(&b, `{"id":"%024d","name":"u%s-%d"}`, n+i, off, i)
		}
		b.WriteByte(']')
		resp := httpmock.NewStringResponse(200, b.String())
		resp.Header.Set("X-Total", "5")
		return resp, nil
	})
	var names []string
	for u, err := range c.Users.ListIter(context.Background(), NewQuery().Sort("name").Limit(2)) {
		require.NoError(t, err)
		names = append(names, u.Name)
	}
	assert.Equal(t, []string{"u0-0", "u0-1", "u2-0", "u2-1", "u4-0", "u4-1"}, names)
	require.Len(t, queries, 3)
	for i, q := range queries {
		assert.Equal(t, url.Values{"sort": {"name"}, "limit": {"2"}, "offset": {fmt.Sprint(i * 2)}}, q)
	}
}

// --- contacts ---

// --- users ---

// --- services and webhooks ---

// --- fixtures ---

func TestFixtureResourceGroupsChannelsWorkflows(t *testing.T) {
	t.Parallel()
	path := "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID
	g := decodeFixture[OrgGroup](t, "resources/orggroup.json")
	g.Meta = canonical(g.Meta)
	assert.Equal(t, OrgGroup{ID: "5d0a0b0c0d0e0f1011121314", Name: "Northern dealers", Organization: NewRef[Organization](resOrgID),
		OrgPath: path, Meta: obj(Meta{"tag": "north"}), CreatedAt: ts("2019-06-19T07:00:00.000Z"), UpdatedAt: ts("2019-06-20T07:00:00.000Z")}, g)
	ch := decodeFixture[Channel](t, "resources/channel.json")
	ch.Meta = canonical(ch.Meta)
	assert.Equal(t, Channel{ID: "5b2bf9dd9f3c885eb7ad7a63", Name: "Sales team", Organization: NewRef[Organization](resOrgID),
		OrgPath: path, Meta: obj(Meta{"color": "blue"}), CreatedAt: ts("2018-06-21T19:00:45.000Z"), UpdatedAt: ts("2018-06-22T19:00:45.000Z")}, ch)
	w := decodeFixture[Workflow](t, "resources/workflow.json")
	w.Meta = canonical(w.Meta)
	assert.Equal(t, Workflow{ID: "5e1f2a3b4c5d6e7f80910111", Name: "Office hours", Organization: NewRef[Organization](resOrgID),
		OrgPath: path, Meta: obj(Meta{"priority": 1.0}), CreatedAt: ts("2020-01-08T09:00:00.000Z"), UpdatedAt: ts("2020-01-09T09:00:00.000Z")}, w)

	// The workflow's undocumented rules are still reachable as a Document.
	var d Document
	require.NoError(t, json.Unmarshal(readFixture(t, "resources/workflow.json"), &d))
	var rules []map[string]any
	require.NoError(t, d.Get("rules", &rules))
	assert.Len(t, rules, 1)
}

// --- Document and Collection ---

func TestServicePaths(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t)
	assert.Equal(t, map[string]string{
		"Contacts": "contacts", "Users": "users", "Organizations": "organizations", "OrgGroups": "orggroups",
		"Channels": "channels", "Services": "services", "Forms": "forms", "Workflows": "workflows",
		"Bots": "bots", "BotInstances": "botinstances",
	}, map[string]string{
		"Contacts": c.Contacts.r.path, "Users": c.Users.r.path, "Organizations": c.Organizations.r.path,
		"OrgGroups": c.OrgGroups.r.path, "Channels": c.Channels.r.path, "Services": c.Services.r.path,
		"Forms": c.Forms.r.path, "Workflows": c.Workflows.r.path, "Bots": c.Bots.r.path, "BotInstances": c.BotInstances.r.path,
	})
}
