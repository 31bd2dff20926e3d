package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSecretName(t *testing.T) {
	t.Parallel()
	secret := []string{"password", "newPassword", "passwd", "secret", "webhook_secret", "token", "accessToken",
		"refresh-token", "access_token", "credentials", "signature", "X-Hub-Signature", "apiKey", "api_key",
		"privateKey", "Cookie", "Set-Cookie", "Authorization", "otp", "OTP", "pin", "auth", "key", "sig", "hmac",
		"accessKey", "signingKey", "secretKey", "encryptionKey", "hmacKey", "clientKey", "x.licenseKey"}
	plain := []string{"", "id", "_id", "name", "email", "url", "events", "tokenType", "token_type", "chatshipperDeliveryKey",
		"meta.chatshipperDeliveryKey", "deliveryKey", "fieldKey", "sortKey", "idempotencyKey", "primaryKey", "foreignKey",
		"partitionKey", "routingKey", "cacheKey", "lookupKey", "keys", "keyword", "monkeys", "author", "organization", "code"}
	for _, k := range secret {
		assert.True(t, SecretName(k), k)
	}
	for _, k := range plain {
		assert.False(t, SecretName(k), k)
	}
}

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		found    []string
	}{
		{"no url here", "no url here", nil},
		{"https://hooks.example.com/in?page=2&id=5", "https://hooks.example.com/in?page=2&id=5", nil},
		{"https://bob:pa55@hooks.example.com/in", "https://bob:X@hooks.example.com/in", []string{"pa55"}},
		{"https://bob:p%40ss@h.example/", "https://bob:X@h.example/", []string{"p%40ss", "p@ss"}},
		{"https://b:p@ss@h.example/x", "https://b:X@h.example/x", []string{"p@ss"}},
		{"https://tok123@h.example", "https://X@h.example", []string{"tok123"}},
		{"https://bob:@h.example", "https://bob:@h.example", nil},
		{"https://h.example/in?token=abc&source=cs", "https://h.example/in?token=X&source=cs", []string{"abc"}},
		{"https://h.example/in?access_token=a%2Bb&apiKey=k1&x=", "https://h.example/in?access_token=X&apiKey=X&x=", []string{"a%2Bb", "a+b", "k1"}},
		{"https://h.example/cb#access_token=frag1&state=s", "https://h.example/cb#access_token=X&state=s", []string{"frag1"}},
		{"https://h.example/x?chatshipperDeliveryKey=k&fieldKey=f", "https://h.example/x?chatshipperDeliveryKey=k&fieldKey=f", nil},
		{"Path `url` (`https://u:pw1@h.example/?token=t1`) is invalid.", "Path `url` (`https://u:X@h.example/?token=X`) is invalid.", []string{"pw1", "t1"}},
		{"see (https://h.example/?secret=s1).", "see (https://h.example/?secret=X).", []string{"s1"}},
		{`{"url":"http://u:pw2@h.example:8080/a"}`, `{"url":"http://u:X@h.example:8080/a"}`, []string{"pw2"}},
		{"//u:pw3@h.example/x", "//u:X@h.example/x", []string{"pw3"}},
		{"two: https://a:p1@h1.example and https://h2.example/?token=p2", "two: https://a:X@h1.example and https://h2.example/?token=X", []string{"p1", "p2"}},
	}
	for _, tc := range cases {
		var found []string
		got := RedactURLs(tc.in, "X", func(s string) { found = append(found, s) })
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.found, found, tc.in)
		assert.Equal(t, tc.want, RedactURLs(tc.in, "X", nil), tc.in)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/in?token=abc&a=1", "/in?token=X&a=1"},
		{"hooks.example.com/in?secret=s", "hooks.example.com/in?secret=X"},
		{"https://u:p@h.example/a//b?key=k", "https://u:X@h.example/a//b?key=X"},
		{"/a?next=//u:p@h.example", "/a?next=//u:p@h.example"},
		{"", ""},
	} {
		assert.Equal(t, tc.want, RedactURL(tc.in, "X", nil), tc.in)
	}
}

func TestReplaceSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, secret, want string }{
		{"pw is hunter2, hunter2!", "hunter2", "pw is X, X!"},
		{"xhunter2x", "hunter2", "xXx"},
		{"(`Zq9`) Zq9a aZq9 Zq9", "Zq9", "(`X`) Zq9a aZq9 X"},
		{"code 482913 id 5bb0482913aa n=1482913", "482913", "code X id 5bb0482913aa n=1482913"},
		{"482913", "482913", "X"},
		{"nothing", "", "nothing"},
		{"pw: é, café", "é", "pw: X, café"},
	} {
		assert.Equal(t, tc.want, ReplaceSecret(tc.text, tc.secret, "X"), tc.text)
	}
}

// Redacting twice writes what redacting once does, with a replacement that
// ends in the punctuation a sentence may put after a URL ("]"), wherever the
// replaced value ends; a value that already is the replacement is not
// reported.
func TestRedactURLsIdempotent(t *testing.T) {
	t.Parallel()
	const r = "[redacted]"
	for _, tc := range []struct{ in, want string }{
		{"https://h.example/cb?token=v1", "https://h.example/cb?token=" + r},
		{"https://h.example/cb?token=v1&x=1", "https://h.example/cb?token=" + r + "&x=1"},
		{"https://h.example/cb?token=v1#f", "https://h.example/cb?token=" + r + "#f"},
		{"https://h.example/cb#token=v1", "https://h.example/cb#token=" + r},
		{`"https://h.example/cb?token=v1"`, `"https://h.example/cb?token=` + r + `"`},
		{"(https://h.example/cb?token=v1).", "(https://h.example/cb?token=" + r + ")."},
		{"[https://h.example/cb?token=v1]", "[https://h.example/cb?token=" + r + "]"},
		{"https://h.example/cb?token=a%2Fb%3D", "https://h.example/cb?token=" + r},
		{"https://u:p1@h.example", "https://u:" + r + "@h.example"},
		{"https://p1@h.example/", "https://" + r + "@h.example/"},
	} {
		once := RedactURLs(tc.in, r, nil)
		assert.Equal(t, tc.want, once, tc.in)
		var found []string
		assert.Equal(t, once, RedactURLs(once, r, func(s string) { found = append(found, s) }), tc.in)
		assert.Empty(t, found, tc.in)
	}
}
