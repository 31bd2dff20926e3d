package chatshipper

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
