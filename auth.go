package chatshipper

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenSource supplies the bearer token for each request. Implementations must
// be safe for concurrent use.
type TokenSource interface {
	// Token returns a token valid for the next request.
	Token(ctx context.Context) (string, error)
}

// refresher is implemented by token sources that refresh their tokens
// (RefreshingTokenSource). logger is the calling client's, handed over
// explicitly: a source without a logger of its own logs its refreshes there.
type refresher interface {
	// tokenFor is Token, for a client whose logger is logger.
	tokenFor(ctx context.Context, logger *slog.Logger) (string, error)
	// refreshAfterReject replaces a token the server refused (401/403 "jwt
	// expired"). stale is the token that was refused; a source that already
	// replaced it returns the new one without a new refresh.
	refreshAfterReject(ctx context.Context, stale string, logger *slog.Logger) (string, error)
}

// token asks the client's token source for the token of a request. A
// refreshing source is handed the client's logger along.
func (c *Client) token(ctx context.Context) (string, error) {
	if rf, ok := c.tokens.(refresher); ok {
		return rf.tokenFor(ctx, c.logger)
	}
	return c.tokens.Token(ctx)
}

// StaticTokenSource returns a TokenSource that always returns token: a bot
// user's permanent API key. A token holding a line break, a space or another
// byte that cannot appear in a bearer token makes Token (and so every call)
// fail with an *ArgumentError before any I/O; NewClient refuses it at once.
func StaticTokenSource(token string) TokenSource { return staticToken(token) }

type staticToken string

// String, Format (every fmt verb, %#v included) and LogValue keep a static
// token out of printed values and logs.
func (s staticToken) String() string {
	return "StaticTokenSource{Token:" + redactedIfSet(string(s)) + "}"
}

func (s staticToken) Format(f fmt.State, verb rune) { printRedacted(f, verb, s.String()) }

func (s staticToken) LogValue() slog.Value { return slog.StringValue(s.String()) }

func (s staticToken) Token(context.Context) (string, error) {
	if err := checkToken("token", string(s)); err != nil {
		return "", err
	}
	return string(s), nil
}

// checkToken refuses a token that cannot be sent in an Authorization header:
// any byte outside visible ASCII (a control character such as the line break
// a token read from a file often ends with, a space, non-ASCII). The error
// names the position, never the token.
func checkToken(name, tok string) error {
	for i := 0; i < len(tok); i++ {
		b := tok[i]
		if b > 0x20 && b < 0x7f {
			continue
		}
		what := "a non-ASCII byte"
		switch {
		case b == '\n' || b == '\r':
			what = "a line break (read from a file? trim it)"
		case b == ' ':
			what = "a space"
		case b < 0x20 || b == 0x7f:
			what = "a control character"
		}
		return argError(name, "contains %s at byte %d of %d", what, i, len(tok))
	}
	return nil
}

// Token is the answer of POST /v2/auth/token: an access token, the refresh
// token that replaces it, and who it belongs to. Its Format, String and
// LogValue methods redact both tokens, so printing it with any verb or
// logging it is safe.
type Token struct {
	TokenType    string    `json:"tokenType,omitempty"`
	AccessToken  string    `json:"token"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	User         string    `json:"user,omitempty"`
	Organization string    `json:"organization,omitempty"`
	ExpiresAt    Timestamp `json:"expiresAt,omitzero"`
	Scope        string    `json:"scope,omitempty"`
	// ClientID is the e-mail address the refresh flow identifies the user by.
	// Login fills it in; it is not part of the server's answer.
	ClientID string `json:"-"`
}

// String describes the token without revealing it.
func (t Token) String() string {
	return fmt.Sprintf("Token{User:%s Organization:%s Scope:%q ExpiresAt:%s AccessToken:[redacted] RefreshToken:[redacted]}",
		t.User, t.Organization, t.Scope, t.ExpiresAt.Time.Format(time.RFC3339))
}

// Format prints String for every verb (%d and %x included), so no verb
// reaches the token fields.
func (t Token) Format(f fmt.State, verb rune) { printRedacted(f, verb, t.String()) }

// LogValue keeps tokens out of slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", t.User), slog.String("organization", t.Organization),
		slog.String("scope", t.Scope), slog.Time("expiresAt", t.ExpiresAt.Time))
}

// Expiry returns when the access token expires: the JWT's exp claim (read
// without verifying the signature), else ExpiresAt. Zero means unknown/never.
func (t Token) Expiry() time.Time {
	if c, ok := jwtClaims(t.AccessToken); ok && c.Exp > 0 {
		return time.Unix(c.Exp, 0)
	}
	return t.ExpiresAt.Time
}

type claims struct {
	ID        string `json:"_id"`
	Scope     string `json:"scope"`
	Exp       int64  `json:"exp"`
	GrantType string `json:"grant_type"`
}

// jwtClaims decodes the payload of a JWT without verifying it: the client only
// needs to know when to refresh and whose token it is.
func jwtClaims(token string) (claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}, false
	}
	var c claims
	if err := decodeJSON(raw, &c); err != nil {
		return claims{}, false
	}
	return c, true
}

// UserIDFromToken returns the user id (the `_id` claim) of a ChatShipper JWT,
// read without verifying it, or "" when the token is not a readable JWT.
func UserIDFromToken(token string) string {
	c, _ := jwtClaims(token)
	return c.ID
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	OTP      string `json:"otp,omitempty"`
}

type refreshRequest struct {
	ClientID     string `json:"clientId"`
	RefreshToken string `json:"refreshToken"`
}

// Credentials are what Login exchanges for a time-based token: a user's
// e-mail address and password, plus the one-time code when the account uses
// two-factor authentication. They print and log with the password and code
// redacted.
type Credentials struct {
	Email    string
	Password string
	OTP      string // the current one-time code, or "" without two-factor authentication
}

// String returns the e-mail address with the password and code redacted.
func (c Credentials) String() string {
	otp := ""
	if c.OTP != "" {
		otp = " otp=[REDACTED]"
	}
	pw := "<empty>"
	if c.Password != "" {
		pw = "[REDACTED]"
	}
	return "Credentials{Email: " + c.Email + " Password: " + pw + otp + "}"
}

// Format makes every fmt verb print String, so no verb shows the password.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the e-mail address only.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", c.Email), slog.String("password", "[REDACTED]"))
}

// Login exchanges cr for a time-based token, valid for 24 hours. opts
// configure the client used for the call as for NewClient (WithBaseURL for
// another API base, WithHTTPClient, WithLogger, retries). Log in once and
// reuse the token, kept fresh by a RefreshingTokenSource: do not log in per
// call. The password never appears in an error or a log line.
//
// POST /v2/auth/token
//
// ChatShipper API docs: https://developers.chatshipper.com/docs/api-authentication
func Login(ctx context.Context, cr Credentials, opts ...Option) (*Token, error) {
	if cr.Email == "" {
		return nil, argError("Email", "must not be empty")
	}
	if cr.Password == "" {
		return nil, argError("Password", "must not be empty")
	}
	c, err := newAnonymousClient(opts)
	if err != nil {
		return nil, err
	}
	req, err := c.NewRequest(ctx, http.MethodPost, "auth/token", &loginRequest{Email: cr.Email, Password: cr.Password, OTP: cr.OTP})
	if err != nil {
		return nil, err
	}
	var tok Token
	if _, err := c.Do(req, &tok); err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, errors.New("chatshipper: login answer holds no token")
	}
	tok.ClientID = cr.Email
	return &tok, nil
}

// newAnonymousClient builds a client that sends no Authorization header, for
// the auth endpoints themselves.
func newAnonymousClient(opts []Option) (*Client, error) {
	all := make([]Option, 0, len(opts)+1)
	all = append(all, opts...)
	all = append(all, withAnonymous())
	return NewClient("", all...)
}

// RefreshConfig configures a RefreshingTokenSource.
type RefreshConfig struct {
	// Token is the current token, usually from Login. Its RefreshToken is required.
	Token Token
	// ClientID is the user's e-mail address; defaults to Token.ClientID.
	ClientID string
	// Leeway is how long before expiry the token is refreshed (default 1 minute).
	Leeway time.Duration
	// OnRefresh, if set, is called once per successful refresh with the new
	// token so it can be persisted. It runs on the goroutine doing the refresh,
	// before the callers waiting for the new token continue.
	OnRefresh func(Token)
	// Options configure the client used for refreshing as for NewClient
	// (WithBaseURL for another API base, WithHTTPClient, WithLogger, ...).
	Options []Option
}

// String describes the configuration with both tokens redacted.
func (c RefreshConfig) String() string {
	onRefresh := "<nil>"
	if c.OnRefresh != nil {
		onRefresh = "set"
	}
	return fmt.Sprintf("RefreshConfig{Token:%s ClientID:%s Leeway:%s OnRefresh:%s Options:%d}",
		c.Token.String(), c.ClientID, c.Leeway, onRefresh, len(c.Options))
}

// Format prints String for every verb, so no verb shows a token.
func (c RefreshConfig) Format(f fmt.State, verb rune) { printRedacted(f, verb, c.String()) }

// LogValue logs the configuration without the tokens.
func (c RefreshConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("token", c.Token), slog.String("clientId", c.ClientID),
		slog.Duration("leeway", c.Leeway))
}

// RefreshingTokenSource is a TokenSource for time-based tokens. It refreshes the
// token shortly before its expiry, and once more when the server refuses it as
// expired or invalid. Concurrent callers share one refresh.
type RefreshingTokenSource struct {
	client    *Client
	clientID  string
	leeway    time.Duration
	onRefresh func(Token)

	mu       sync.Mutex
	tok      Token
	inflight chan struct{} // closed when the running refresh ends
	lastErr  error
}

// NewRefreshingTokenSource returns a source that keeps cfg.Token fresh.
func NewRefreshingTokenSource(cfg RefreshConfig) (*RefreshingTokenSource, error) {
	if cfg.Token.AccessToken == "" {
		return nil, argError("Token.AccessToken", "must not be empty")
	}
	if cfg.Token.RefreshToken == "" {
		return nil, argError("Token.RefreshToken", "must not be empty")
	}
	if err := checkToken("Token.AccessToken", cfg.Token.AccessToken); err != nil {
		return nil, err
	}
	if err := checkToken("Token.RefreshToken", cfg.Token.RefreshToken); err != nil {
		return nil, err
	}
	id := cfg.ClientID
	if id == "" {
		id = cfg.Token.ClientID
	}
	if id == "" {
		return nil, argError("ClientID", "must not be empty (the user's e-mail address)")
	}
	c, err := newAnonymousClient(cfg.Options)
	if err != nil {
		return nil, err
	}
	leeway := cfg.Leeway
	if leeway <= 0 {
		leeway = time.Minute
	}
	tok := cfg.Token
	tok.ClientID = id
	return &RefreshingTokenSource{client: c, clientID: id, leeway: leeway, onRefresh: cfg.OnRefresh, tok: tok}, nil
}

// Token returns the current access token, refreshing it first when it expires
// within the leeway. It returns ctx's error once ctx is done, also while a
// refresh runs: the refresh itself goes on for the other callers.
func (s *RefreshingTokenSource) Token(ctx context.Context) (string, error) {
	return s.tokenFor(ctx, nil)
}

// tokenFor is Token for a client whose logger is logger (nil: none).
func (s *RefreshingTokenSource) tokenFor(ctx context.Context, logger *slog.Logger) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	cur := s.tok.AccessToken
	exp := s.tok.Expiry()
	s.mu.Unlock()
	if exp.IsZero() || time.Until(exp) > s.leeway {
		return cur, nil
	}
	return s.refresh(ctx, cur, "the token expires within the leeway", logger)
}

// String describes the source and its current token, both tokens redacted.
func (s *RefreshingTokenSource) String() string {
	if s == nil {
		return "RefreshingTokenSource(nil)"
	}
	return "RefreshingTokenSource{ClientID:" + s.clientID + " Token:" + s.Current().String() + "}"
}

// Format prints String for every verb, so no verb shows a token.
func (s *RefreshingTokenSource) Format(f fmt.State, verb rune) { printRedacted(f, verb, s.String()) }

// LogValue logs the source without its tokens.
func (s *RefreshingTokenSource) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("clientId", s.clientID), slog.Any("token", s.Current()))
}

// Current returns a copy of the token held now (for persisting it).
func (s *RefreshingTokenSource) Current() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

func (s *RefreshingTokenSource) refreshAfterReject(ctx context.Context, stale string, logger *slog.Logger) (string, error) {
	return s.refresh(ctx, stale, "the server refused the token", logger)
}

// refreshTimeout bounds one refresh, which runs detached from the caller
// that started it.
const refreshTimeout = 30 * time.Second

// refresh replaces stale with a new token. If stale was already replaced, the
// current token is returned; otherwise the caller waits for the running
// refresh, starting one if none runs. Every caller, the one that started it
// included, stops waiting when its own ctx ends; the refresh runs on in the
// background (bounded by refreshTimeout) for the others. The refresh that
// starts logs to the source's own logger, else to logger (the logger of the
// client whose call started it).
func (s *RefreshingTokenSource) refresh(ctx context.Context, stale, reason string, logger *slog.Logger) (string, error) {
	s.mu.Lock()
	if s.tok.AccessToken != stale {
		t := s.tok.AccessToken
		s.mu.Unlock()
		return t, nil
	}
	ch := s.inflight
	if ch == nil {
		ch = make(chan struct{})
		s.inflight = ch
		refreshTok := s.tok.RefreshToken
		// Detached from ctx's cancellation (other callers may wait for it),
		// keeping its values (tracing).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		go func() {
			defer cancel()
			s.run(rctx, ch, refreshTok, reason, logger)
		}()
	}
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.AccessToken == stale && s.lastErr != nil {
		return "", s.lastErr
	}
	return s.tok.AccessToken, nil
}

// run performs one refresh and wakes its waiters by closing done. It logs to
// the source's own logger, else to the caller's (nil: none).
func (s *RefreshingTokenSource) run(ctx context.Context, done chan struct{}, refreshToken, reason string, callerLogger *slog.Logger) {
	logger := s.client.logger
	if logger == nil {
		logger = callerLogger
	}
	start := time.Now()
	if logger != nil {
		logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: refreshing token",
			slog.String("reason", reason), slog.String("client_id", s.clientID))
	}
	tok, err := s.doRefresh(ctx, refreshToken)
	if logger != nil {
		if err != nil {
			logger.LogAttrs(ctx, slog.LevelWarn, "chatshipper: token refresh failed",
				slog.Duration("duration", time.Since(start)), slog.String("error", err.Error()))
		} else {
			logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: token refreshed",
				slog.Duration("duration", time.Since(start)), slog.Time("expires", tok.Expiry()))
		}
	}
	s.mu.Lock()
	s.inflight = nil
	s.lastErr = err
	if err == nil {
		s.tok = tok
	}
	s.mu.Unlock()
	if err == nil && s.onRefresh != nil {
		s.onRefresh(tok)
	}
	close(done)
}

func (s *RefreshingTokenSource) doRefresh(ctx context.Context, refreshToken string) (Token, error) {
	req, err := s.client.NewRequest(ctx, http.MethodPost, "auth/token", &refreshRequest{ClientID: s.clientID, RefreshToken: refreshToken})
	if err != nil {
		return Token{}, err
	}
	var tok Token
	if _, err := s.client.Do(req, &tok); err != nil {
		return Token{}, fmt.Errorf("chatshipper: refreshing token: %w", err)
	}
	if tok.AccessToken == "" {
		return Token{}, errors.New("chatshipper: refresh answer holds no token")
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	tok.ClientID = s.clientID
	return tok, nil
}
