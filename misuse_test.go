package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests for misuse found by outside testing: each refused before
// any I/O with the documented error.

func TestQueryErrorIsInvalidArgument(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	_, _, err := c.Contacts.List(context.Background(), NewQuery().Limit(0))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidQuery)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	var qe *QueryError
	assert.True(t, errors.As(err, &qe))
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestCollectionAppliesMandatoryFilters(t *testing.T) {
	t.Parallel()
	metaOnly := NewQuery().Where("meta.intent", Eq("greeting"))
	tests := []struct {
		name    string
		call    func(c *Client) error
		refused bool
	}{
		{"typed messages without a mandatory filter", func(c *Client) error {
			_, _, err := c.Messages.List(context.Background(), NewQuery().Where("text", Eq("hi")))
			return err
		}, true},
		{"Collection(messages) without a mandatory filter", func(c *Client) error {
			_, _, err := c.Collection("messages").List(context.Background(), NewQuery().Where("text", Eq("hi")))
			return err
		}, true},
		{"Collection(messages) iterator without a mandatory filter", func(c *Client) error {
			for _, err := range c.Collection("messages").ListIter(context.Background(), nil) {
				return err
			}
			return nil
		}, true},
		{"Collection(conversations) meta filter alone", func(c *Client) error {
			_, _, err := c.Collection("conversations").List(context.Background(), metaOnly)
			return err
		}, true},
		{"typed conversations meta filter alone", func(c *Client) error {
			_, _, err := c.Conversations.List(context.Background(), metaOnly)
			return err
		}, true},
		{"Collection(conversations) meta filter with status", func(c *Client) error {
			_, _, err := c.Collection("conversations").List(context.Background(), metaOnly.Where("status", Eq("queued")))
			return err
		}, false},
		{"Collection(kbases) has no mandatory filter", func(c *Client) error {
			_, _, err := c.Collection("kbases").List(context.Background(), metaOnly)
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(200, `[]`))
			err := tt.call(c)
			if !tt.refused {
				require.NoError(t, err)
				assert.Equal(t, 1, mt.GetTotalCallCount())
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidQuery)
			assert.Equal(t, 0, mt.GetTotalCallCount(), "no request may be made")
		})
	}
}

func TestListIterNilContext(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	//nolint:staticcheck // a nil context is the misuse under test
	_, _, listErr := c.Contacts.List(nil, nil)
	var listArg *ArgumentError
	require.ErrorAs(t, listErr, &listArg)
	n := 0
	//nolint:staticcheck // a nil context is the misuse under test
	for v, err := range c.Contacts.ListIter(nil, nil) {
		n++
		assert.Nil(t, v)
		var iterArg *ArgumentError
		require.ErrorAs(t, err, &iterArg)
		assert.Equal(t, listArg.Error(), iterArg.Error())
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

// A hostile server's pages never yield garbage or loop: null items are an
// ErrInvalidResponse, and a server that ignores the offset (and sends no
// totals or links) ends the walk with one instead of repeating a page.
func TestHostilePages(t *testing.T) {
	t.Parallel()
	full := func(n int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%024d"}`, i+1)
		}
		b.WriteByte(']')
		return b.String()
	}
	tests := []struct {
		name  string
		body  string
		query *Query
	}{
		{"null item, key walk", `[{"id":"000000000000000000000001"},null]`, nil},
		{"null item, sorted walk", `[null]`, NewQuery().Sort("name")},
		{"offset ignored, sorted walk", full(2), NewQuery().Sort("name").Limit(2)},
		{"key filter ignored, default walk", full(2), NewQuery().Limit(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(200, tt.body))
			n, errs := 0, 0
			for u, err := range c.Contacts.ListIter(context.Background(), tt.query) {
				n++
				require.Less(t, n, 100, "the walk does not end")
				if err != nil {
					errs++
					assert.Nil(t, u)
					assert.ErrorIs(t, err, ErrInvalidResponse)
					continue
				}
				assert.NotNil(t, u, "a nil item with a nil error")
			}
			assert.Equal(t, 1, errs)
		})
	}
	t.Run("List refuses a null item", func(t *testing.T) {
		t.Parallel()
		c, mt := newTestClient(t)
		mt.RegisterNoResponder(httpmock.NewStringResponder(200, `[null]`))
		items, _, err := c.Contacts.List(context.Background(), nil)
		assert.Nil(t, items)
		assert.ErrorIs(t, err, ErrInvalidResponse)
	})
}
