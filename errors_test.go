package chatshipper

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	all := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrUnprocessable, ErrRateLimited, ErrServer}
	tests := []struct {
		status  int
		body    string
		want    error
		wantMsg string
	}{
		{400, `{"message":"Invalid parameter limit"}`, ErrBadRequest, "Invalid parameter limit"},
		{401, `{"error":{"message":"jwt expired"}}`, ErrUnauthorized, "jwt expired"},
		{403, `{"error":{"message":"Permission denied"}}`, ErrForbidden, "Permission denied"},
		{404, `{"error":{"message":"Conversation not found"}}`, ErrNotFound, "Conversation not found"},
		{422, `{"message":"text is required"}`, ErrUnprocessable, "text is required"},
		{500, `<html>Internal Server Error</html>`, ErrServer, ""},
		{503, ``, ErrServer, ""},
		{400, `{"error":"plain string error"}`, ErrBadRequest, "plain string error"},
		{400, `{"error":{"code":12}}`, ErrBadRequest, ""},
		{404, `not json at all`, ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+"/"+tt.body, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t, WithMaxRetries(0))
			mt.RegisterResponder("GET", testBase+"users/5bb0277fd99faf11a3f4a37e", httpmock.NewStringResponder(tt.status, tt.body))
			req, _ := c.NewRequest(context.Background(), "GET", "users/5bb0277fd99faf11a3f4a37e", nil)
			resp, err := c.Do(req, nil)
			require.Error(t, err)
			require.NotNil(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			var er *ErrorResponse
			require.ErrorAs(t, err, &er)
			assert.Equal(t, tt.status, er.StatusCode)
			assert.Equal(t, tt.wantMsg, er.Message)
			assert.Equal(t, tt.body, string(er.Body))
			assert.Equal(t, "GET", er.Method)
			assert.Equal(t, testBase+"users/5bb0277fd99faf11a3f4a37e", er.URL)
			for _, s := range all {
				assert.Equal(t, s == tt.want, errors.Is(err, s), "errors.Is(%v)", s)
			}
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestErrorBodyCapped(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithMaxRetries(0))
	huge := `{"message":"` + strings.Repeat("x", 3<<20) + `"}`
	mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(400, huge))
	req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
	_, err := c.Do(req, nil)
	var er *ErrorResponse
	require.ErrorAs(t, err, &er)
	assert.Len(t, er.Body, maxErrorBody)
	assert.Equal(t, "", er.Message, "a truncated body is not valid JSON")
}

func TestErrorStrings(t *testing.T) {
	t.Parallel()
	er := &ErrorResponse{StatusCode: 404, Message: "Conversation not found", Method: "GET", URL: testBase + "conversations/x"}
	assert.Equal(t, "chatshipper: GET "+testBase+"conversations/x: 404 Conversation not found", er.Error())
	er.Message = ""
	assert.Equal(t, "chatshipper: GET "+testBase+"conversations/x: 404 Not Found", er.Error())
	ae := &ArgumentError{Name: "conversationID", Reason: "must not be empty"}
	assert.Equal(t, "chatshipper: invalid argument conversationID: must not be empty", ae.Error())
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	assert.NoError(t, checkID("id", "5bb0277fd99faf11a3f4a37e"))
	assert.NoError(t, checkID("id", "5BB0277FD99FAF11A3F4A37E"))
	for _, bad := range []string{"", "5bb0277fd99faf11a3f4a37", "5bb0277fd99faf11a3f4a37e0", "5bb0277fd99faf11a3f4a37g", "../../../etc/passwd00000", "5bb0277fd99faf11a3f4a3/e"} {
		err := checkID("conversationID", bad)
		require.Error(t, err, bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Contains(t, err.Error(), "conversationID")
	}
}
