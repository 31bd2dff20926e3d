package chatshipper

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
