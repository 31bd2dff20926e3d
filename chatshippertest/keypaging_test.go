package chatshippertest

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestQueryKeyPaging checks what a walk by key relies on: lists are ordered by
// id when no sort is given, ids created later sort after earlier ones, and
// "id=>X" (or "_id=>X", the field the docs order by) keeps the documents
// after X, counted in X-Total.
func TestQueryKeyPaging(t *testing.T) {
	srv, _ := newTest(t)
	var created []any
	for range 5 {
		created = append(created, srv.Put("contacts", m{"name": "Key"}))
	}
	all := ids(mustCall(t, srv, 200, "GET", "contacts?name=Key", srv.Token, nil).list(t))
	assert.Equal(t, created, all, "default order is by id, which follows creation")

	tests := []struct {
		query string
		want  []any
		total string
	}{
		{"name=Key&id=" + url.QueryEscape(">"+created[1].(string)), created[2:], "3"},
		{"name=Key&_id=" + url.QueryEscape(">"+created[1].(string)), created[2:], "3"},
		{"name=Key&id=" + url.QueryEscape(">="+created[3].(string)), created[3:], "2"},
		{"name=Key&_id=" + url.QueryEscape("<"+created[2].(string)), created[:2], "2"},
		{"name=Key&id=" + url.QueryEscape(">"+created[1].(string)) + "&limit=2", created[2:4], "3"},
		{"name=Key&id=" + url.QueryEscape(">"+created[4].(string)), []any{}, "0"},
		{"name=Key&sort=-_id", []any{created[4], created[3], created[2], created[1], created[0]}, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := mustCall(t, srv, 200, "GET", "contacts?"+tt.query, srv.Token, nil)
			assert.Equal(t, tt.want, ids(r.list(t)))
			assert.Equal(t, tt.total, r.Header.Get("X-Total"))
		})
	}
}
