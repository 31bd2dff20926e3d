package chatshippertest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// refreshTTL is the lifetime of refresh tokens (the real value is unknown).
const refreshTTL = 30 * 24 * time.Hour

// credential is a login of a user; passwords never leave this map.
type credential struct {
	userID   string
	password string
}

// scopeLevels orders the cascading scopes (https://developers.chatshipper.com/docs/api-authentication).
var scopeLevels = map[string]int{"guest": 1, "viewer": 1, "agent": 2, "bot": 3, "admin": 4}

// scopeLevel is the highest level named in a space-delimited scope string.
func scopeLevel(scope string) int {
	lvl := 0
	for _, w := range strings.Fields(scope) {
		lvl = max(lvl, scopeLevels[w])
	}
	return lvl
}

// scopeForRole maps a user role to the scope name the auth response reports;
// "viewer" is the guest role.
func scopeForRole(role string) string {
	switch role {
	case "admin", "bot", "agent":
		return role
	default:
		return "guest"
	}
}

// tokenScope is the scope claim of a role's access tokens: every scope up to
// the role's, lowest first, as the platform's tokens list them
// ("viewer guest agent bot admin" for an admin).
func tokenScope(role string) string {
	switch scopeForRole(role) {
	case "admin":
		return "viewer guest agent bot admin"
	case "bot":
		return "viewer guest agent bot"
	case "agent":
		return "viewer guest agent"
	default:
		return "viewer guest"
	}
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Values of the grant_type claim.
const (
	grantAccess  = "access_token"
	grantRefresh = "refresh_token"
)

// IssueToken returns a signed access token (a JWT) for userID with the given
// space-delimited scope, used verbatim: "guest", "agent", "bot" or "admin",
// or a cumulative list such as "viewer guest agent bot" like the platform's
// tokens. Its claims are _id, scope, organization (the user's selected
// organization, when the user exists), grant_type "access_token", iat and,
// when ttl > 0, exp; ttl 0 makes a permanent token, like a bot's API key. The
// user need not exist yet, but requests with the token fail with 401
// "invalid token" until it does.
func (s *Server) IssueToken(userID string, scope string, ttl time.Duration) string {
	s.mu.Lock()
	org := ""
	if u, ok := s.store.get("users", userID); ok {
		org, _ = userOrg(u, "")
	}
	s.mu.Unlock()
	return s.sign(userID, scope, org, ttl, grantAccess)
}

func (s *Server) sign(userID, scope, org string, ttl time.Duration, grant string) string {
	now := s.now()
	claims := map[string]any{"_id": userID, "scope": scope, "iat": now.Unix(), "grant_type": grant}
	if org != "" {
		claims["organization"] = org
	}
	if ttl > 0 {
		claims["exp"] = now.Add(ttl).Unix()
	}
	payload, _ := json.Marshal(claims)
	unsigned := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return unsigned + "." + s.mac(unsigned)
}

func (s *Server) mac(unsigned string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(unsigned))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// tokenClaims are the claims the server reads back.
type tokenClaims struct {
	ID        string  `json:"_id"`
	Scope     string  `json:"scope"`
	Exp       float64 `json:"exp"`
	GrantType string  `json:"grant_type"`
}

// verify checks a token's shape, signature and expiry, with the API's 401
// messages (which the SDK matches to decide on a refresh).
func (s *Server) verify(token string) (tokenClaims, *apiError) {
	var c tokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errf(http.StatusUnauthorized, "jwt malformed: a JWT has three dot-separated parts")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return c, errf(http.StatusUnauthorized, "jwt malformed: the payload is not base64url-encoded JSON")
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.mac(parts[0]+"."+parts[1]))) {
		return c, errf(http.StatusUnauthorized, "invalid signature")
	}
	if c.Exp != 0 && !s.now().Before(time.Unix(int64(c.Exp), 0)) {
		return c, errf(http.StatusUnauthorized, "jwt expired")
	}
	if c.ID == "" {
		return c, errf(http.StatusUnauthorized, "invalid token")
	}
	return c, nil
}

// caller is the authenticated user of a request.
type caller struct {
	userID  string
	scope   string
	level   int
	role    string // the user's role in its selected organization
	org     string // the selected organization
	orgPath string
}

// msgRole is the default message role for the caller's messages.
func (c *caller) msgRole() string {
	if c.role == "bot" {
		return "bot"
	}
	return "agent"
}

// authenticate resolves the bearer token of r to a caller.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, _ := strings.Cut(h, " ")
	switch {
	case h == "" || strings.EqualFold(h, "Bearer"):
		return nil, errf(http.StatusUnauthorized, "No authorization token was found")
	case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "":
		return nil, errf(http.StatusUnauthorized, "Format is Authorization: Bearer [token]")
	}
	c, aerr := s.verify(strings.TrimSpace(token))
	if aerr != nil {
		return nil, aerr
	}
	if c.GrantType == grantRefresh {
		return nil, errf(http.StatusUnauthorized, "invalid token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.store.get("users", c.ID)
	if !ok {
		// Deleting a user revokes its tokens (https://developers.chatshipper.com/docs/api-authentication).
		return nil, errf(http.StatusUnauthorized, "invalid token")
	}
	cl := &caller{userID: c.ID, scope: c.Scope, level: scopeLevel(c.Scope)}
	cl.org, cl.role = userOrg(u, "")
	if o, ok := s.store.get("organizations", cl.org); ok {
		cl.orgPath = orgPathOf(o)
	}
	return cl, nil
}

// userOrg returns the user's membership in org (or, with org "", the selected
// membership) as organization id and role.
func userOrg(u doc, org string) (string, string) {
	var first map[string]any
	for _, e := range arr(u, "organizations") {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if first == nil {
			first = m
		}
		if org != "" && str(m, "organization") == org || org == "" && m["selected"] == true {
			return str(m, "organization"), str(m, "role")
		}
	}
	if first != nil {
		return str(first, "organization"), str(first, "role")
	}
	return "", str(u, "role")
}

// orgPathOf is an organization's path ("ancestor#...#self").
func orgPathOf(o doc) string {
	if p := str(o, "path"); p != "" {
		return p
	}
	return str(o, "id")
}

// Operations checked against the permission table.
const (
	opList   = "list"
	opFetch  = "fetch"
	opCreate = "create"
	opUpdate = "update"
	opDelete = "delete"
)

// permissions is the visible part of the permission matrix (https://developers.chatshipper.com/docs/api-authentication):
// the lowest scope allowed per operation and collection. Anything the table
// does not show (update, delete, other collections) needs scope bot.
var permissions = map[string]map[string]int{
	opList: {"organizations": 3, "orggroups": 3, "users": 3, "conversations": 2, "messages": 3,
		"contacts": 2, "kbitems": 2, "forms": 3, "services": 4},
	opFetch: {"organizations": 3, "orggroups": 3, "users": 3, "conversations": 1, "messages": 3,
		"contacts": 3, "kbitems": 2, "forms": 4, "services": 4},
	opCreate: {"organizations": 4, "orggroups": 4, "users": 4, "conversations": 2, "messages": 1,
		"contacts": 3, "kbitems": 2, "forms": 3},
}

// permit answers 403 when the caller's scope is below what op on c needs.
// Users may always fetch their own user document.
func permit(cl *caller, op, c, id string) error {
	if op == opFetch && c == "users" && id == cl.userID && cl.level > 0 {
		return nil
	}
	need, ok := permissions[op][c]
	if !ok {
		need = scopeLevels["bot"]
	}
	if cl.level < need {
		return errf(http.StatusForbidden, "Permission denied")
	}
	return nil
}

// handleToken serves POST /v2/auth/token: login with email+password(+otp), or
// refresh with clientId+refreshToken.
func (s *Server) handleToken(w http.ResponseWriter, body []byte) error {
	in, err := decodeObject(body)
	if err != nil {
		return err
	}
	var userID string
	if rt, ok := in["refreshToken"]; ok {
		id, err := s.checkRefresh(rt, in["clientId"])
		if err != nil {
			return err
		}
		userID = id
	} else {
		email, _ := in["email"].(string)
		pw, _ := in["password"].(string)
		if email == "" || pw == "" {
			return errf(http.StatusBadRequest, "email and password are required")
		}
		s.mu.Lock()
		cred, known := s.creds[strings.ToLower(email)]
		s.mu.Unlock()
		if !known || !hmac.Equal([]byte(cred.password), []byte(pw)) {
			return errf(http.StatusUnauthorized, "Invalid email or password")
		}
		userID = cred.userID
	}
	s.mu.Lock()
	u, ok := s.store.get("users", userID)
	var org, role string
	if ok {
		org, role = userOrg(u, "")
	}
	s.mu.Unlock()
	if !ok {
		return refreshRefused("the user of the refresh token no longer exists")
	}
	scope := tokenScope(role)
	now := s.now()
	writeJSON(w, http.StatusCreated, map[string]any{
		"tokenType":    "Bearer",
		"token":        s.sign(userID, scope, org, s.cfg.tokenTTL, grantAccess),
		"refreshToken": s.sign(userID, scope, org, refreshTTL, grantRefresh),
		"user":         userID,
		"organization": org,
		"expiresAt":    formatTime(now.Add(s.cfg.tokenTTL)),
		"scope":        scopeForRole(role),
	})
	return nil
}

// refreshRefused is the 401 of a refused refresh. Its message never contains
// the access-token messages ("jwt expired", "invalid signature", "invalid
// token"; nor "token expired" or "jwt malformed"): clients refresh when they
// see those, and would refresh again and again.
func refreshRefused(reason string) error {
	return errf(http.StatusUnauthorized, "Refresh refused: %s", reason)
}

// checkRefresh validates a refresh request's refreshToken and clientId (the
// user's e-mail address or id) and returns the user id.
func (s *Server) checkRefresh(rt, clientID any) (string, error) {
	tok, _ := rt.(string)
	client, _ := clientID.(string)
	if tok == "" {
		return "", refreshRefused("refreshToken must be a non-empty string")
	}
	if client == "" {
		return "", refreshRefused("clientId (the user's e-mail address) is required")
	}
	c, aerr := s.verify(tok)
	if aerr != nil {
		switch aerr.msg {
		case "jwt expired":
			return "", refreshRefused("the refresh token has run out; log in again")
		case "invalid signature":
			return "", refreshRefused("the refresh token's signature does not match")
		default:
			return "", refreshRefused("the refresh token is not a well-formed JWT")
		}
	}
	if c.GrantType != grantRefresh {
		return "", refreshRefused("the token given is not a refresh token")
	}
	s.mu.Lock()
	cred, known := s.creds[strings.ToLower(client)]
	s.mu.Unlock()
	if (!known || cred.userID != c.ID) && client != c.ID {
		return "", refreshRefused("the refresh token does not belong to this clientId")
	}
	return c.ID, nil
}
