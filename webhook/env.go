package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper"
)

// A bot configured from the environment, the way chipchat reads it, and the
// receiver's health endpoint.

// The environment variables NewBotFromEnv reads. Each has a fallback, the
// name chipchat (the official Node SDK) and its documentation use, so that a
// chipchat bot's environment configures a Go bot unchanged; when both are
// set, the CHATSHIPPER_ name wins.
const (
	// EnvToken holds the API token (fallback: TOKEN). Required.
	EnvToken = "CHATSHIPPER_TOKEN" //nolint:gosec // G101: a variable name, not a credential
	// EnvBaseURL holds the API base URL, e.g. "https://api.web1on1.chat/v2/"
	// (fallback: APIHOST, an API host such as "https://api.web1on1.chat", to
	// which "/v2/" is added). Optional: default [chatshipper.DefaultBaseURL].
	// It must be https, except for loopback hosts.
	EnvBaseURL = "CHATSHIPPER_BASE_URL"
	// EnvWebhookSecret holds the webhook's secret (fallbacks: SECRET,
	// WEBHOOK_SECRET). Required.
	EnvWebhookSecret = "CHATSHIPPER_WEBHOOK_SECRET" //nolint:gosec // G101: a variable name, not a credential
	// EnvWebhookPath holds the path the webhook is served on (fallback:
	// WEBHOOK_PATH). Optional: default "/"; a leading "/" is added.
	EnvWebhookPath = "CHATSHIPPER_WEBHOOK_PATH"
	// EnvListenAddr holds the address to listen on, e.g. "127.0.0.1:3000"
	// (fallback: PORT, a port number, for ":<port>"). Optional: default
	// ":3000", chipchat's.
	EnvListenAddr = "CHATSHIPPER_LISTEN_ADDR"
)

// The fallback names, chipchat's.
const (
	envTokenChipchat    = "TOKEN"
	envAPIHostChipchat  = "APIHOST"
	envSecretChipchat   = "SECRET"
	envSecretQuickstart = "WEBHOOK_SECRET"
	envPathChipchat     = "WEBHOOK_PATH"
	envPortChipchat     = "PORT"
)

// defaultListenAddr is chipchat's default port.
const defaultListenAddr = ":3000"

// EnvError is returned by [NewBotFromEnv] for a missing or invalid
// environment variable. It names the variable, never its value (tokens and
// secrets stay out of errors and logs). errors.Is(err,
// [chatshipper.ErrInvalidArgument]) holds.
type EnvError struct {
	// Variable is the variable read (for a fallback name, that name).
	Variable string
	// Reason says what is wrong.
	Reason string
	// Err is the underlying error, if any (for instance the client's refusal
	// of a base URL), or nil.
	Err error
}

// Error names the variable and the reason.
func (e *EnvError) Error() string {
	s := "chatshipper: environment variable " + e.Variable + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches [chatshipper.ErrInvalidArgument].
func (e *EnvError) Is(target error) bool { return target == chatshipper.ErrInvalidArgument }

// Unwrap returns Err.
func (e *EnvError) Unwrap() error { return e.Err }

// Bot is a webhook bot configured from the environment by [NewBotFromEnv]:
// its API client, its webhook handler, and where to serve it.
type Bot struct {
	// Client is the API client (the token's user is the bot).
	Client *chatshipper.Client
	// Handler is the webhook handler, with the secret and the client set.
	Handler *Handler
	// Path is the webhook's path, starting with "/".
	Path string
	// Addr is the address to listen on.
	Addr string
}

// NewBotFromEnv builds a bot from the environment variables [EnvToken],
// [EnvBaseURL], [EnvWebhookSecret], [EnvWebhookPath] and [EnvListenAddr] (or
// their chipchat names): a client made with [chatshipper.NewClient] (the base
// URL first, then clientOpts) and a handler made with [NewHandler]
// ([WithSecret] and [WithClient] first, then opts). An empty or missing token
// or secret, a base URL that is not https (loopback hosts excepted), or a
// path or address that cannot be served is refused with an [*EnvError]
// before any request; so is an option error of either constructor, which
// it wraps.
//
// Serve it with [Bot.ListenAndServe], or mount [Bot.ServeMux] in a server of
// your own.
func NewBotFromEnv(clientOpts []chatshipper.Option, opts ...Option) (*Bot, error) {
	return newBotFromEnv(os.Getenv, clientOpts, opts)
}

// newBotFromEnv is NewBotFromEnv reading the environment through getenv.
func newBotFromEnv(getenv func(string) string, clientOpts []chatshipper.Option, opts []Option) (*Bot, error) {
	lookupEnv := func(names ...string) (value, name string) { return lookup(getenv, names...) }
	token, tokenVar := lookupEnv(EnvToken, envTokenChipchat)
	if token == "" {
		return nil, &EnvError{Variable: EnvToken, Reason: "is empty or not set (or set " + envTokenChipchat + ")"}
	}
	secret, secretVar := lookupEnv(EnvWebhookSecret, envSecretChipchat, envSecretQuickstart)
	if secret == "" {
		return nil, &EnvError{Variable: EnvWebhookSecret, Reason: "is empty or not set (or set " + envSecretChipchat + "); an unsigned webhook accepts events from anyone"}
	}
	base, baseVar := lookupEnv(EnvBaseURL)
	if base == "" {
		if host, v := lookupEnv(envAPIHostChipchat); host != "" {
			base, baseVar = strings.TrimRight(host, "/")+"/v2/", v
		}
	}
	webhookPath, pathVar := lookupEnv(EnvWebhookPath, envPathChipchat)
	webhookPath, err := cleanWebhookPath(webhookPath)
	if err != nil {
		return nil, &EnvError{Variable: pathVar, Reason: "is not a path to serve", Err: err}
	}
	addr, err := listenAddr(lookupEnv)
	if err != nil {
		return nil, err
	}

	var copts []chatshipper.Option
	if base != "" {
		copts = append(copts, chatshipper.WithBaseURL(base))
	}
	client, err := chatshipper.NewClient(token, append(copts, clientOpts...)...)
	if err != nil {
		var ae *chatshipper.ArgumentError
		switch {
		case base != "" && errors.As(err, &ae) && ae.Name == "baseURL":
			return nil, &EnvError{Variable: baseVar, Reason: "is not a usable API base URL", Err: err}
		case errors.As(err, &ae) && ae.Name == "token":
			return nil, &EnvError{Variable: tokenVar, Reason: "is not a usable token", Err: err}
		}
		return nil, fmt.Errorf("chatshipper: NewBotFromEnv: client: %w", err)
	}
	h, err := NewHandler(append([]Option{WithSecret(secret), WithClient(client)}, opts...)...)
	if err != nil {
		if errors.Is(err, chatshipper.ErrInvalidArgument) && secretVar != "" {
			var ae *chatshipper.ArgumentError
			if errors.As(err, &ae) && ae.Name == "WithSecret" {
				return nil, &EnvError{Variable: secretVar, Reason: "is not a usable secret", Err: err}
			}
		}
		return nil, fmt.Errorf("chatshipper: NewBotFromEnv: handler: %w", err)
	}
	return &Bot{Client: client, Handler: h, Path: webhookPath, Addr: addr}, nil
}

// lookup returns the value of the first of names that is set and not
// empty, and that name (the first name when none is).
func lookup(getenv func(string) string, names ...string) (value, name string) {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v, n
		}
	}
	return "", names[0]
}

// cleanWebhookPath gives the path a leading "/" (as chipchat does) and
// refuses what a ServeMux pattern cannot hold.
func cleanWebhookPath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.ContainsAny(p, "?#{}") || strings.ContainsFunc(p, isSpaceOrControl) {
		return "", fmt.Errorf("%q holds a query, a fragment, braces, spaces or control characters", p)
	}
	if c := path.Clean(p); c != p && c+"/" != p {
		return "", fmt.Errorf("%q is not a clean path (try %q)", p, c)
	}
	return p, nil
}

func listenAddr(lookupEnv func(names ...string) (string, string)) (string, error) {
	if a, v := lookupEnv(EnvListenAddr); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", &EnvError{Variable: v, Reason: "is not a host:port address", Err: err}
		}
		return a, nil
	}
	if p, v := lookupEnv(envPortChipchat); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return "", &EnvError{Variable: v, Reason: "is not a port number"}
		}
		return ":" + strconv.Itoa(n), nil
	}
	return defaultListenAddr, nil
}

// pingPath returns where the health endpoint of a webhook served on p is:
// "<p>/ping", as chipchat's router has it.
func pingPath(p string) string { return path.Join(p, "ping") }

// ServeMux returns a mux serving the webhook on b.Path and the health
// endpoint ([Handler.Health]) on b.Path + "/ping" ("/ping" for "/"), the
// paths chipchat's router uses. Other paths answer 404.
func (b *Bot) ServeMux() *http.ServeMux {
	mux := http.NewServeMux()
	hook := b.Path
	if hook == "/" {
		hook = "/{$}" // only "/" itself, not every path
	}
	mux.Handle(hook, b.Handler)
	mux.Handle(pingPath(b.Path), b.Handler.Health())
	return mux
}

// ListenAndServe serves [Bot.ServeMux] on b.Addr until ctx ends, then shuts
// down: the server stops accepting and waits up to 20 seconds (the time the
// platform waits for an answer) for running requests, then the handler drains
// the events it acknowledged ([Handler.Shutdown]). It returns nil after a
// shutdown ctx asked for, or the error that stopped the server.
func (b *Bot) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", b.Addr)
	if err != nil {
		return fmt.Errorf("chatshipper: bot: listen on %s: %w", b.Addr, err)
	}
	return b.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener of the caller's, which it closes.
func (b *Bot) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: b.ServeMux(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("chatshipper: bot: serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if herr := b.Handler.Shutdown(shutdown); err == nil {
		err = herr
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("chatshipper: bot: serve: %w", serr)
	}
	return err
}

// Health returns the receiver's health endpoint, chipchat's "ping": GET (or
// HEAD) answers 200 with {"pong":"<milliseconds since 1970>"}, and 503 with
// {"error":"shutting down"} once [Handler.Shutdown] began, so a load
// balancer stops sending deliveries. Other methods answer 405. It makes no
// request and reveals nothing of the configuration.
func (h *Handler) Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.isClosed() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"shutting down"}` + "\n"))
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprintf(w, `{"pong":"%d"}`+"\n", time.Now().UnixMilli())
	})
}
