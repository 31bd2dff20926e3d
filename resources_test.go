package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
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

func TestContactsFindByTelephone(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got seen
	mt.RegisterResponder("GET", testBase+"contacts", answer(&got, 200, "["+string(readFixture(t, "resources/contact.json"))+"]"))
	ctx := context.Background()

	contacts, _, err := c.Contacts.FindByTelephone(ctx, "+441134960999", "")
	require.NoError(t, err)
	require.Len(t, contacts, 1)
	assert.Equal(t, "5bb0277fd99faf11a3f4a37e", contacts[0].Conversation.ID)
	assert.Equal(t, "GET", got.method)
	assert.Equal(t, "/v2/contacts", got.path)
	assert.Equal(t, "profile.telephone=%2B441134960999", got.rawQuery, "the + travels percent-encoded")
	assert.Equal(t, url.Values{"profile.telephone": {"+441134960999"}}, got.query, "and decodes to +, not a space")

	// Separators are dropped; an organization narrows the search.
	_, _, err = c.Contacts.FindByTelephone(ctx, "+44 (113) 496-0999", resOrgID)
	require.NoError(t, err)
	assert.Contains(t, strings.Split(got.rawQuery, "&"), "profile.telephone=%2B441134960999")
	assert.Equal(t, url.Values{"profile.telephone": {"+441134960999"}, "organization": {resOrgID}}, got.query)
	assert.Equal(t, 2, mt.GetTotalCallCount())
}

func TestContactsFindByTelephoneRefusesBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	for _, tc := range []struct{ tel, org, arg string }{
		{"", "", "telephone"},
		{"441134960999", "", "telephone"},           // no +: never matches the stored E.164 form
		{"+0441134960999", "", "telephone"},         // a country code never starts with 0
		{"+44113496099x", "", "telephone"},          // letters
		{"+1234567890123456", "", "telephone"},      // 16 digits
		{"+", "", "telephone"},                      // nothing after +
		{"++441134960999", "", "telephone"},         // a second +
		{"+441134960999", "acme", "organizationID"}, // bad organization ID
	} {
		t.Run(tc.tel+"/"+tc.org, func(t *testing.T) {
			_, _, err := c.Contacts.FindByTelephone(context.Background(), tc.tel, tc.org)
			require.ErrorIs(t, err, ErrInvalidArgument)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.arg, ae.Name)
			if len(tc.tel) > 3 && tc.arg == "telephone" {
				assert.NotContains(t, err.Error(), tc.tel, "a telephone number is personal data")
			}
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

// --- users ---

func TestUsersMe(t *testing.T) {
	t.Parallel()
	tok := decodeFixture[Token](t, "resources/auth_token.json")
	c, mt := newTestClient(t, WithTokenSource(StaticTokenSource(tok.AccessToken)))
	var got seen
	mt.RegisterResponder("GET", testBase+"users/"+tok.User, answer(&got, 200, string(readFixture(t, "resources/user.json"))))
	me, _, err := c.Users.Me(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "GET", got.method)
	assert.Equal(t, "/v2/users/"+resUserID, got.path)
	assert.Empty(t, got.rawQuery)
	assert.Equal(t, "Jenny Jones", me.Name)
	assert.Equal(t, "Bearer "+tok.AccessToken, got.header.Get("Authorization"))

	// A token that is not a JWT does not name its user: no request is made.
	c2, mt2 := newTestClient(t)
	_, _, err = c2.Users.Me(context.Background())
	require.ErrorIs(t, err, ErrSelfUnknown)
	assert.NotContains(t, err.Error(), testToken)
	assert.Equal(t, 0, mt2.GetTotalCallCount())
}

func TestUserCreateAndUpdateRedactPassword(t *testing.T) {
	t.Parallel()
	u := decodeFixture[UserCreate](t, "resources/user_create_request.json")
	assert.Equal(t, UserCreate{GivenName: "Jenny", FamilyName: "Jones", Email: "jenny.jones@example.com",
		Password: canaryPassword, Status: "active"}, u)
	enc, err := json.Marshal(u)
	require.NoError(t, err)
	assert.JSONEq(t, string(readFixture(t, "resources/user_create_request.json")), string(enc))

	upd := UserUpdate{Password: ptr(canaryPassword), Email: ptr("new@example.com"), Meta: Meta{"a": 1}}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("user", "create", u, "update", upd)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("user", "create", u, "update", upd)
	for _, s := range []string{u.String(), fmt.Sprintf("%v", u), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u), fmt.Sprint(&u),
		upd.String(), fmt.Sprintf("%+v", upd), fmt.Sprintf("%#v", upd), logs.String()} {
		assert.NotContains(t, s, canaryPassword)
	}
	assert.Equal(t, `UserUpdate{Email:"new@example.com" Meta:map[a:1] Password:[redacted]}`, upd.String())
	assert.Contains(t, u.String(), "Password:[redacted]")
	assert.Contains(t, UserCreate{}.String(), `Password:""`)
}

// --- services and webhooks ---

func TestServicesCreateWebhook(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got seen
	mt.RegisterResponder("POST", testBase+"services", answer(&got, 201, string(readFixture(t, "resources/service_webhook.json"))))
	w := &WebhookServiceCreate{Name: "CRM events", Organization: resOrgID, URL: "https://hooks.example.com/chatshipper",
		Secret: webhookSec, Events: []string{"message.create.contact.*", "conversation.update"}}
	svc, resp, err := c.Services.CreateWebhook(context.Background(), w)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "POST", got.method)
	assert.Equal(t, "/v2/services", got.path)
	assert.Empty(t, got.rawQuery)
	assert.JSONEq(t, string(readFixture(t, "resources/webhook_create_request.json")), string(got.body))
	assert.Equal(t, ServiceUnverified, svc.Status)

	p, ok := svc.WebhookParams()
	require.True(t, ok)
	assert.Equal(t, WebhookParams{URL: "https://hooks.example.com/chatshipper", Secret: webhookSec,
		Events: []string{"message.create.contact.*", "conversation.update"}}, p)

	// Secret and events are optional; without them params hold only the URL.
	_, _, err = c.Services.CreateWebhook(context.Background(), &WebhookServiceCreate{URL: "https://hooks.example.com/x"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"webhook","params":{"url":"https://hooks.example.com/x"}}`, string(got.body))
}

func TestServicesVerify(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got seen
	id := "5c1a3932dd2ec870ce85bd30"
	mt.RegisterResponder("PATCH", testBase+"services/"+id, answer(&got, 200, `{"id":"`+id+`","type":"webhook","status":"active"}`))
	svc, _, err := c.Services.Verify(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, ServiceActive, svc.Status)
	assert.Equal(t, "PATCH", got.method)
	assert.Equal(t, "/v2/services/"+id, got.path)
	assert.JSONEq(t, `{"status":"active"}`, string(got.body))

	// A URL that does not echo the challenge: 403.
	mt.RegisterResponder("PATCH", testBase+"services/"+id, httpmock.NewStringResponder(403, `{"error":{"message":"Verification failed"}}`))
	_, _, err = c.Services.Verify(context.Background(), id)
	assert.ErrorIs(t, err, ErrForbidden)
}

func TestWebhookValidationRefusesBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	const credURL = "https://bob:pa55-CANARY@hooks.example.com/in"
	for _, tc := range []struct {
		name string
		w    WebhookServiceCreate
		arg  string
	}{
		{"no url", WebhookServiceCreate{Secret: webhookSec}, "webhook.url"},
		{"relative url", WebhookServiceCreate{URL: "/hooks", Secret: webhookSec}, "webhook.url"},
		{"ftp url", WebhookServiceCreate{URL: "ftp://bob:pa55-CANARY@hooks.example.com/", Secret: webhookSec}, "webhook.url"},
		{"no host", WebhookServiceCreate{URL: "https:///path", Secret: webhookSec}, "webhook.url"},
		{"fragment", WebhookServiceCreate{URL: credURL + "#frag", Secret: webhookSec}, "webhook.url"},
		{"unparsable", WebhookServiceCreate{URL: "https://bob:pa55-CANARY@host:port/\x7f", Secret: webhookSec}, "webhook.url"},
		{"bad org", WebhookServiceCreate{URL: credURL, Organization: "acme", Secret: webhookSec}, "webhook.organization"},
		{"empty event", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{""}}, "webhook.events[0]"},
		{"empty word", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{"message.*", "message."}}, "webhook.events[1]"},
		{"star in word", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{"mess*.create"}}, "webhook.events[0]"},
		{"white space", WebhookServiceCreate{URL: credURL, Secret: webhookSec, Events: []string{"message. create"}}, "webhook.events[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Services.CreateWebhook(context.Background(), &tc.w)
			require.ErrorIs(t, err, ErrInvalidArgument)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.arg, ae.Name)
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				assert.NotContains(t, s, webhookSec)
				assert.NotContains(t, s, "pa55-CANARY")
			}
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestWebhookSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const credURL = "https://bob:pa55-CANARY@hooks.example.com/in"
	w := WebhookServiceCreate{Name: "n", URL: credURL, Secret: webhookSec, Events: []string{"message.*"}}
	p := WebhookParams{URL: credURL, Secret: webhookSec, Events: []string{"message.*"}}
	svc := decodeFixture[Service](t, "resources/service_webhook.json")
	svc.Params["url"] = credURL
	svc.Params["nested"] = map[string]any{"apiKey": "key-CANARY", "list": []any{map[string]any{"password": "pw-CANARY-2"}}}
	sc := *w.serviceCreate()
	su := ServiceUpdate{Params: p.Params()}
	smartsupp := decodeFixture[Service](t, "spec/service_record.json")

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("webhook", "create", w, "params", p, "service", svc, "sc", sc, "su", su)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("webhook", "create", w, "params", p, "service", svc, "sc", sc, "su", su)
	var outputs []string
	for _, v := range []any{w, &w, p, &p, svc, &svc, sc, &sc, su, &su, smartsupp} {
		outputs = append(outputs, fmt.Sprint(v), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v))
	}
	outputs = append(outputs, logs.String())
	for _, s := range outputs {
		for _, secret := range []string{webhookSec, "pa55-CANARY", "key-CANARY", "pw-CANARY-2", "z3kR3t"} {
			assert.NotContains(t, s, secret)
		}
	}
	assert.Equal(t, `WebhookParams{URL:https://bob:redacted@hooks.example.com/in Secret:[redacted] Events:["message.*"]}`, p.String())
	assert.Equal(t, `WebhookParams{URL:"" Secret:"" Events:[]}`, WebhookParams{}.String())
	assert.Contains(t, smartsupp.String(), "jid:uid3710@s1.smartsupp.com", "non-secret params stay readable")
	assert.Contains(t, smartsupp.String(), "password:[redacted]")

	// The JSON sent to the API keeps the secret, of course.
	b, err := json.Marshal(sc)
	require.NoError(t, err)
	assert.Contains(t, string(b), webhookSec)
}

func TestWebhookParamsView(t *testing.T) {
	t.Parallel()
	_, ok := (&Service{Type: ServiceSmartsupp, Params: Meta{"url": "x"}}).WebhookParams()
	assert.False(t, ok, "not a webhook")
	p, ok := (&Service{Type: ServiceWebhook, Params: Meta{"url": "https://h.example/x", "events": 3.0}}).WebhookParams()
	assert.True(t, ok)
	assert.Equal(t, WebhookParams{URL: "https://h.example/x"}, p, "malformed events are ignored")
	p.Events = []string{"form.*"}
	assert.Equal(t, Meta{"url": "https://h.example/x", "events": []string{"form.*"}}, p.Params())
	p.Secret = "s"
	b, err := json.Marshal(ServiceUpdate{Params: p.Params()})
	require.NoError(t, err)
	assert.JSONEq(t, `{"params":{"url":"https://h.example/x","secret":"s","events":["form.*"]}}`, string(b))
}

// --- fixtures ---

func TestFixtureResourceUser(t *testing.T) {
	t.Parallel()
	u := decodeFixture[User](t, "resources/user.json")
	u.Meta = canonical(u.Meta)
	assert.Equal(t, User{
		ID:         resUserID,
		Name:       "Jenny Jones",
		GivenName:  "Jenny",
		FamilyName: "Jones",
		Email:      "jenny.jones@example.com",
		Avatar:     "https://storage.googleapis.com/cs2-uploads/avatars/jenny.png",
		Status:     "active",
		Organizations: []UserOrganization{
			{Organization: NewRef[Organization](resOrgID), OrgPath: "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID, Selected: true, Role: RoleAgent},
			{Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"), OrgPath: "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#5917f2e1a4c63e0011ddaee3", Role: RoleViewer},
		},
		Meta:      obj(Meta{"team": "sales", "shift": 2.0}),
		CreatedAt: ts("2019-04-06T09:12:44.123Z"),
		UpdatedAt: ts("2019-04-07T15:00:01.500Z"),
	}, u)
}

func TestFixtureResourceAuthToken(t *testing.T) {
	t.Parallel()
	tok := decodeFixture[Token](t, "resources/auth_token.json")
	access, refresh := tok.AccessToken, tok.RefreshToken
	assert.Equal(t, Token{TokenType: "Bearer", AccessToken: access, RefreshToken: refresh, User: resUserID,
		Organization: resOrgID, ExpiresAt: ts("2023-11-15T22:13:20.000Z"), Scope: "admin"}, tok)
	assert.True(t, strings.HasPrefix(access, "eyJ") && strings.HasPrefix(refresh, "eyJ"))
	assert.Equal(t, resUserID, UserIDFromToken(access), "the token names the user Users.Me fetches")
}

func TestFixtureResourceOrganization(t *testing.T) {
	t.Parallel()
	o := decodeFixture[Organization](t, "resources/organization.json")
	o.Meta = canonical(o.Meta)
	leeds := "5917f2e1a4c63e0011ddaee3"
	path := "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#" + leeds
	assert.Equal(t, Organization{
		ID:          leeds,
		Name:        "acme-cars-leeds",
		DisplayName: "Acme Cars Leeds",
		Email:       "leeds@acme-cars.example",
		URL:         "https://acme-cars.example/leeds",
		Country:     "GB",
		Logo:        "https://storage.googleapis.com/cs2-uploads/logos/acme.png",
		Industry:    "automotive",
		Status:      OrganizationActive,
		Stopwords:   []string{"unsubscribe", "stop"},
		Categories: []Category{
			{Name: "Sales", Forms: []Ref[Form]{{ID: resFormID, Value: &Form{ID: resFormID, Name: "Test drive",
				Organization: NewRef[Organization](leeds), Fields: []FormField{{Name: "Model", Key: "model"}}}}}},
			{Name: "Service", Forms: []Ref[Form]{NewRef[Form]("590c76bdde1b762f2113e81d")}},
		},
		Parent:    NewRef[Organization](resOrgID),
		Path:      path,
		OrgPath:   path,
		Level:     OrgLevelSub,
		Tags:      []string{"dealer", "north"},
		Commands:  json.RawMessage(`[{"name":"lookup","description":"Look up a vehicle"}]`),
		Meta:      obj(Meta{"region": "north"}),
		CreatedAt: ts("2017-05-14T06:00:01.000Z"),
		UpdatedAt: ts("2019-01-02T03:04:05.006Z"),
	}, o)
	assert.Equal(t, []string{"563f1bd1b8a9ce1e0b9b6b6d", resOrgID, leeds}, o.PathIDs())
	assert.Equal(t, []string{"a", "b"}, (&Organization{OrgPath: "a#b"}).PathIDs())
	assert.Nil(t, (&Organization{}).PathIDs())
}

func TestFixtureResourceWebhookService(t *testing.T) {
	t.Parallel()
	s := decodeFixture[Service](t, "resources/service_webhook.json")
	assert.Equal(t, Service{
		ID:           "5c1a3932dd2ec870ce85bd30",
		Organization: NewRef[Organization](resOrgID),
		Name:         "CRM events",
		Type:         ServiceWebhook,
		Params: Meta{"url": "https://hooks.example.com/chatshipper", "secret": webhookSec,
			"events": []any{"message.create.contact.*", "conversation.update"}},
		Status:    ServiceUnverified,
		CreatedAt: ts("2019-06-01T12:00:00.000Z"),
		UpdatedAt: ts("2019-06-01T12:00:00.000Z"),
	}, s)
	create := decodeFixture[ServiceCreate](t, "resources/webhook_create_request.json")
	assert.Equal(t, ServiceCreate{Organization: resOrgID, Name: "CRM events", Type: ServiceWebhook,
		Params: Meta{"url": "https://hooks.example.com/chatshipper", "secret": webhookSec,
			"events": []any{"message.create.contact.*", "conversation.update"}}}, create)
	require.NoError(t, create.validate(), "the fixture body passes the client's own checks")
}

func TestFixtureResourceBots(t *testing.T) {
	t.Parallel()
	b := decodeFixture[Bot](t, "resources/bot.json")
	b.Meta = canonical(b.Meta)
	assert.Equal(t, Bot{ID: resBotID, Name: "Review bot", Organization: NewRef[Organization](resOrgID), Enabled: true,
		Status: BotActive, Meta: obj(Meta{"consumerFacing": true, "audience": "suborgs"}),
		CreatedAt: ts("2021-03-01T08:00:00.000Z"), UpdatedAt: ts("2021-03-02T08:00:00.000Z")}, b)

	bi := decodeFixture[BotInstance](t, "resources/botinstance.json")
	bi.Meta = canonical(bi.Meta)
	assert.Equal(t, BotInstance{
		ID:           "6040f0c2a1b2c3d4e5f60718",
		Bot:          Ref[Bot]{ID: resBotID, Value: &Bot{ID: resBotID, Name: "Review bot", Enabled: true, Status: BotActive}},
		Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"),
		OrgPath:      "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#5917f2e1a4c63e0011ddaee3",
		Enabled:      true,
		Status:       BotActive,
		Meta:         obj(Meta{"greeting": "Hi there!", "reviewForm": resFormID}),
		CreatedAt:    ts("2021-03-04T10:20:30.000Z"),
		UpdatedAt:    ts("2021-03-05T10:20:30.000Z"),
	}, bi)
}

func TestFixtureResourceForm(t *testing.T) {
	t.Parallel()
	f := decodeFixture[Form](t, "resources/form.json")
	f.Meta = canonical(f.Meta)
	assert.Equal(t, Form{
		ID:           resFormID,
		Name:         "Test drive",
		Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"),
		Fields: []FormField{
			{Name: "Model", Key: "model", Type: "text"},
			{Name: "Preferred date", Key: "date", Type: "date", Meta: Meta{"required": true}},
		},
		Meta:      obj(Meta{"init": "590c76bdde1b762f2113e900"}),
		CreatedAt: ts("2017-05-05T11:11:11.111Z"),
		UpdatedAt: ts("2017-05-06T11:11:11.111Z"),
	}, f)
}

func TestFixtureResourceContact(t *testing.T) {
	t.Parallel()
	c := decodeFixture[Contact](t, "resources/contact.json")
	c.Meta = canonical(c.Meta)
	assert.Equal(t, Contact{
		ID:           "5c9a1b2c3d4e5f6071829304",
		Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"),
		OrgPath:      "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#5917f2e1a4c63e0011ddaee3",
		Conversation: NewRef[Conversation]("5bb0277fd99faf11a3f4a37e"),
		Profile: ContactProfile{Name: "Jane Doe", GivenName: "Jane", FamilyName: "Doe", Email: "jane@example.com",
			Telephone: "+441134960999", Locale: "en-GB", Address: Meta{"city": "Leeds", "postalCode": "LS1 1AA"}},
		Presences: []Meta{
			{"type": "whatsapp", "id": "441134960999", "since": "2020-01-01T00:00:00.000Z"},
			{"type": "sms", "id": "+441134960999"},
		},
		Meta:      obj(Meta{"crmId": "C-1042"}),
		CreatedAt: ts("2019-03-26T12:00:00.000Z"),
		UpdatedAt: ts("2019-03-27T12:00:00.000Z"),
	}, c)
}

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

func TestFixtureResourceKbaseDocument(t *testing.T) {
	t.Parallel()
	raw := readFixture(t, "resources/kbase.json")
	var ref map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &ref))

	var d Document
	require.NoError(t, json.Unmarshal(raw, &d))
	assert.Equal(t, resItemID, d.ID())
	assert.Equal(t, resOrgID, d.Organization(), "a populated organization gives its ID")
	assert.Equal(t, ts("2020-07-01T10:00:00Z"), d.CreatedAt())
	assert.Equal(t, ts("2020-07-02T08:00:00.250Z").UTC(), d.UpdatedAt().UTC())
	assert.Equal(t, Meta{"source": "import", "version": 3.0}, d.Meta())
	assert.Equal(t, []string{"big", "content", "createdAt", "enabled", "id", "meta", "name", "nested", "organization", "scores", "updatedAt"}, d.Fields())
	assert.Equal(t, 11, d.Len())

	var name, content string
	require.NoError(t, d.Get("name", &name))
	require.NoError(t, d.Get("content", &content))
	assert.Equal(t, "FAQ <b>Cars</b> & more", name)
	assert.Equal(t, "<p>Opening hours: 9&ndash;17</p>", content)
	var enabled bool
	require.NoError(t, d.Get("enabled", &enabled))
	assert.False(t, enabled)

	// Every field keeps its exact bytes: whitespace, number forms, escapes.
	for k, v := range ref {
		assert.Equal(t, string(v), string(d.Raw(k)), k)
	}
	assert.Equal(t, `[1.10, 2.000,  3e2]`, string(d.Raw("scores")))
	assert.Equal(t, `12345678901234567890123`, string(d.Raw("big")))
	assert.Equal(t, `{ "a" : [ true , null ] , "uni":"caf\u00e9 \u2028"}`, string(d.Raw("nested")))

	// decode -> MarshalJSON -> decode is equal, and every field is byte-for-byte.
	enc, err := d.MarshalJSON()
	require.NoError(t, err)
	var again Document
	require.NoError(t, json.Unmarshal(enc, &again))
	assert.True(t, reflect.DeepEqual(d, again))
	var encFields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(enc, &encFields))
	for k, v := range ref {
		assert.Equal(t, string(v), string(encFields[k]), k)
	}
	// Through encoding/json (a Document inside another struct) the fields are
	// equal as JSON, though encoding/json compacts and escapes them.
	viaStd, err := json.Marshal(map[string]Document{"d": d})
	require.NoError(t, err)
	var wrapped map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(viaStd, &wrapped))
	for k, v := range ref {
		assert.JSONEq(t, string(v), string(wrapped["d"][k]), k)
	}
}

func TestDocumentAccessorsAndEdits(t *testing.T) {
	t.Parallel()
	var d Document // the zero value is usable
	assert.Equal(t, "", d.ID())
	assert.Equal(t, "", d.Organization())
	assert.True(t, d.CreatedAt().IsZero())
	assert.True(t, d.UpdatedAt().IsZero())
	assert.Nil(t, d.Meta())
	assert.Nil(t, d.Raw("x"))
	assert.False(t, d.Has("x"))
	b, err := d.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, `{}`, string(b))

	var s string
	err = d.Get("missing", &s)
	assert.ErrorIs(t, err, ErrNoField)
	assert.Contains(t, err.Error(), `"missing"`)
	assert.ErrorIs(t, d.Get("x", nil), ErrInvalidArgument)

	require.NoError(t, d.Set("_id", "5f0e1d2c3b4a596877665544"))
	assert.Equal(t, "5f0e1d2c3b4a596877665544", d.ID(), "_id is the fallback")
	require.NoError(t, d.Set("id", resItemID))
	assert.Equal(t, resItemID, d.ID())
	require.NoError(t, d.Set("organization", resOrgID))
	assert.Equal(t, resOrgID, d.Organization())
	require.NoError(t, d.Set("createdAt", ts("2020-01-02T03:04:05.006Z")))
	assert.Equal(t, ts("2020-01-02T03:04:05.006Z"), d.CreatedAt())
	require.NoError(t, d.Set("meta", Meta{"k": "v"}))
	assert.Equal(t, Meta{"k": "v"}, d.Meta())
	require.NoError(t, d.Set("raw", json.RawMessage(" [1, 2.50] ")))
	assert.Equal(t, `[1, 2.50]`, string(d.Raw("raw")), "raw values are kept as given (trimmed)")
	require.NoError(t, d.Set("gone", nil))
	assert.Equal(t, `null`, string(d.Raw("gone")))
	assert.True(t, d.Has("gone"))

	// Type mismatches and bad input.
	var n int
	err = d.Get("meta", &n)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `field "meta"`)
	require.NoError(t, d.Set("updatedAt", "not a time"))
	assert.True(t, d.UpdatedAt().IsZero())
	require.NoError(t, d.Set("meta", "not an object"))
	assert.Nil(t, d.Meta())
	assert.ErrorIs(t, d.Set("", 1), ErrInvalidArgument)
	assert.ErrorIs(t, d.Set("x", json.RawMessage(`{`)), ErrInvalidArgument)
	assert.Error(t, d.Set("x", make(chan int)))
	assert.False(t, d.Has("x"), "a refused Set changes nothing")

	// Clone is independent; Unset removes.
	c := d.Clone()
	c.Unset("raw")
	require.NoError(t, c.Set("id", "other"))
	assert.True(t, d.Has("raw"))
	assert.Equal(t, resItemID, d.ID())
	assert.Equal(t, d.Len()-1, c.Len())
	var nilDoc *Document
	assert.Equal(t, 0, nilDoc.Len())
	assert.Nil(t, nilDoc.Fields())
	assert.Equal(t, 0, nilDoc.Clone().Len())

	// Keys that need escaping survive MarshalJSON.
	odd := &Document{}
	for _, k := range []string{`we"ird`, `back\slash`, "<tag>&", "tab\t", "café"} {
		require.NoError(t, odd.Set(k, k))
	}
	enc, err := odd.MarshalJSON()
	require.NoError(t, err)
	var back Document
	require.NoError(t, json.Unmarshal(enc, &back))
	assert.Equal(t, odd.Fields(), back.Fields())
	for _, k := range odd.Fields() {
		var v string
		require.NoError(t, back.Get(k, &v))
		assert.Equal(t, k, v)
	}

	// Decoding: null empties, non-objects are refused.
	require.NoError(t, json.Unmarshal([]byte(`null`), c))
	assert.Equal(t, 0, c.Len())
	assert.Error(t, json.Unmarshal([]byte(`[1]`), c))
	assert.Error(t, json.Unmarshal([]byte(`"x"`), c))

	// A Ref to a Document takes the document's ID.
	var r Ref[Document]
	require.NoError(t, json.Unmarshal([]byte(`{"id":"`+resItemID+`","title":"t"}`), &r))
	assert.Equal(t, resItemID, r.ID)
}

// A document read with Get and sent back with Update keeps every field it
// did not change, byte for byte, on the wire.
func TestDocumentGetUpdateRoundTrip(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	raw := readFixture(t, "resources/kbase.json")
	var orig map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &orig))

	var got seen
	mt.RegisterResponder("GET", testBase+"kbases/"+resItemID, answer(&got, 200, string(raw)))
	kb := c.Collection("kbases")
	doc, _, err := kb.Get(context.Background(), resItemID, nil)
	require.NoError(t, err)
	require.NoError(t, doc.Set("name", "FAQ"))

	// The server answers with what it received.
	mt.RegisterResponder("PATCH", testBase+"kbases/"+resItemID, func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		got = seen{method: r.Method, path: r.URL.Path, body: b, header: r.Header.Clone()}
		return httpmock.NewBytesResponse(200, b), nil
	})
	updated, _, err := kb.Update(context.Background(), doc.ID(), doc)
	require.NoError(t, err)
	assert.Equal(t, "PATCH", got.method)
	assert.Equal(t, "/v2/kbases/"+resItemID, got.path)
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))

	var sent map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got.body, &sent))
	require.Len(t, sent, len(orig))
	for k, v := range orig {
		if k == "name" {
			assert.Equal(t, `"FAQ"`, string(sent[k]))
			continue
		}
		assert.Equal(t, string(v), string(sent[k]), "field %s went back as it came", k)
	}
	assert.Contains(t, string(got.body), `"content":"<p>Opening hours: 9&ndash;17</p>"`, "HTML is not re-escaped")
	for k, v := range orig {
		if k != "name" {
			assert.Equal(t, string(v), string(updated.Raw(k)), k)
		}
	}
}

func TestCollectionNames(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	for _, name := range []string{"", ".", "..", "/", "a/b", "kbases/", "/kbases", "Kbases", "kb ases", "kb-ases",
		"kb_ases", "kb%2fases", "kbases?x=1", "ärticles", "kbases1", strings.Repeat("a", 65)} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			s := c.Collection(name)
			require.ErrorIs(t, s.Err(), ErrInvalidArgument)
			var ae *ArgumentError
			require.ErrorAs(t, s.Err(), &ae)
			assert.Equal(t, "collection", ae.Name)
			calls := []error{}
			_, _, err := s.List(ctx, nil)
			calls = append(calls, err)
			for _, err := range s.ListIter(ctx, nil) {
				calls = append(calls, err)
			}
			_, _, err = s.Get(ctx, resItemID, nil)
			calls = append(calls, err)
			_, _, err = s.Create(ctx, &Document{})
			calls = append(calls, err)
			_, _, err = s.Update(ctx, resItemID, &Document{})
			calls = append(calls, err)
			_, err = s.Delete(ctx, resItemID)
			calls = append(calls, err)
			require.Len(t, calls, 6)
			for _, err := range calls {
				assert.ErrorIs(t, err, ErrInvalidArgument)
			}
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount())
	assert.NoError(t, c.Collection(strings.Repeat("a", 64)).Err())
}

func TestCollectionEveryKnownName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"kbases", "kbitems", "articles", "files", "locations", "watemplates", "metrics",
		"points", "partners", "tests", "testresults", "links"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			var got seen
			mt.RegisterResponder("GET", testBase+name, answer(&got, 200, `[{"id":"`+resItemID+`","anything":[1,2]}]`))
			s := c.Collection(name)
			require.NoError(t, s.Err())
			assert.Equal(t, name, s.r.path)
			docs, _, err := s.List(context.Background(), NewQuery().Where("organization", Eq(resOrgID)))
			require.NoError(t, err)
			assert.Equal(t, "/v2/"+name, got.path)
			assert.Equal(t, url.Values{"organization": {resOrgID}}, got.query)
			require.Len(t, docs, 1)
			assert.Equal(t, `[1,2]`, string(docs[0].Raw("anything")))
		})
	}
}

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

func BenchmarkDocumentDecode(b *testing.B) {
	raw, err := os.ReadFile("testdata/resources/kbase.json")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		var d Document
		if err := decodeJSON(raw, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDocumentMarshal(b *testing.B) {
	raw, err := os.ReadFile("testdata/resources/kbase.json")
	require.NoError(b, err)
	var d Document
	require.NoError(b, decodeJSON(raw, &d))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkContactsList decodes a page of 200 contacts through the client
// (httpmock transport, no rate limit): the cost of one typed List call.
func BenchmarkContactsList(b *testing.B) {
	one, err := os.ReadFile("testdata/resources/contact.json")
	require.NoError(b, err)
	page := "[" + strings.TrimSpace(strings.Repeat(string(one)+",", 199)) + string(one) + "]"
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder("GET", testBase+"contacts", httpmock.NewStringResponder(200, page))
	c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithRateLimit(0))
	require.NoError(b, err)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		items, _, err := c.Contacts.List(context.Background(), nil)
		if err != nil || len(items) != 200 {
			b.Fatal(err, len(items))
		}
	}
}

func TestDocumentPrintsNoValue(t *testing.T) {
	t.Parallel()
	const canary = "whsec-CANARY-77aa"
	var d Document
	require.NoError(t, decodeJSON([]byte(`{"id":"5bb551b8000000c0ceda11df","type":"webhook","params":{"secret":"`+canary+`"}}`), &d))
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&out, verb+"|", d)
		fmt.Fprintf(&out, verb+"|", &d)
	}
	slog.New(slog.NewTextHandler(&out, nil)).Info("d", "doc", d)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("d", "doc", &d)
	assert.NotContains(t, out.String(), canary)
	assert.Contains(t, d.String(), "5bb551b8000000c0ceda11df")
	assert.Contains(t, d.String(), "params")
}
