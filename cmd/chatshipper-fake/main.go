// Command chatshipper-fake serves the stateful fake ChatShipper API of
// package chatshippertest over HTTP, for tests written in any language.
//
//	go run github.com/go-chatshipper/chatshipper/cmd/chatshipper-fake@latest -addr 127.0.0.1:8026
//	go install github.com/go-chatshipper/chatshipper/cmd/chatshipper-fake@latest
//
// It listens on 127.0.0.1 with a free port unless -addr says otherwise (an
// address that is not loopback, such as ":8026", which is every interface,
// is served too, with a warning on standard error), serves the API under
// /v2/ with freshly seeded data, and prints its URL, the seeded users with
// their logins and permanent tokens, and what a seed file added: as text, or
// with -json as one line of JSON a test harness reads.
//
// It stops on SIGINT or SIGTERM, or, with -watch-stdin, when its standard
// input closes: it stops listening at once, ends the control API's long
// polls, lets the requests in flight (one held by a delay fault too) finish
// and be answered for up to -shutdown-grace (default 5s), drops what still
// runs then, unanswered, and exits with status 0. A second SIGINT or
// SIGTERM ends the grace at once.
//
// A flag it cannot use, its value included (an unknown profile, a negative
// count, a duration that must be positive, a malformed -addr or -fault, a
// clock outside the years it may show), stops it before it listens, with
// exit status 2 and a message naming the flag; a seed file it cannot use, or
// an address it cannot listen on, with exit status 1 and a message naming
// the file and field, or the address.
//
// # Flags
//
//	-addr host:port           where to listen (default 127.0.0.1:0, a free port)
//	-json                     print the start information as one line of JSON
//	-seed-file path           more data, as JSON (schema: chatshippertest "Seed files")
//	-profile a+b              a server the documentation allows (chatshippertest.Profiles)
//	-rate-limit n             requests per sliding second per token and per IP (default 20; 0 off)
//	-loop-identical n         identical bot messages per window (default 8; 0 off)
//	-loop-identical-window d  (default 3m)
//	-loop-consecutive n       consecutive bot messages per window (default 20; 0 off)
//	-loop-consecutive-window d (default 1h)
//	-token-ttl d              lifetime of tokens from POST /v2/auth/token (default 24h)
//	-webhook-retry d          first delay before a failed delivery is retried, doubling (default 500ms)
//	-webhook-attempts n       attempts per delivery (default 5)
//	-fault json               a fault to inject at start (repeatable; the control API's form)
//	-clock-start time         the fake's time at start, RFC 3339 (default: now)
//	-clock-skew d             the fake's clock this far from real time (instead of -clock-start)
//	-clock-frozen             the clock stands still; only the control API moves it
//	-rand-seed n              seed of generated ids, names and secrets (default 1)
//	-watch-stdin              also stop when standard input closes
//	-shutdown-grace d         at a stop, how long requests in flight may take to finish (default 5s; 0: drop them)
//
// The fake's clock is what the fake shows: timestamps, token lifetimes, the
// Date header and the bot loop limits' windows follow it. It stays within
// the years 0000 to 9998 (timestamps have four-digit years, and a token
// issued in 9999 could expire in 10000): -clock-start, and a set or advance
// of the control API, that would leave them are refused. The limits'
// windows count the time passed on the fake's clock or really passed,
// whichever is more, so a 429's Retry-After comes true by waiting it, also
// with -clock-frozen, and moving the clock ahead ends them early.
//
// # Control API
//
// Under /_fake/ on the same address (the API itself lives under /v2/, so the
// two never meet; control requests are not recorded, faulted or rate
// limited). Answers are JSON.
//
//	GET    /_fake/                     the start information (as -json prints it)
//	POST   /_fake/reset                back to the start: data, seed file, clock, faults,
//	                                   recorded requests, webhook deliveries; answers the start information
//	GET    /_fake/clock                {"now": "<RFC 3339>", "frozen": true|false}
//	POST   /_fake/clock                {"set": "<RFC 3339>"} or {"advance": "25h"}, and/or {"frozen": true|false}
//	                                   (400 for a time outside the years 0000 to 9998)
//	POST   /_fake/faults               inject a fault, e.g. {"method": "POST", "path": "/v2/messages", "status": 503, "count": 1}
//	DELETE /_fake/faults               clear every fault
//	GET    /_fake/deliveries           the finished webhook deliveries (the URL's password redacted)
//	POST   /_fake/deliveries/wait      wait (?timeout=10s, at most 60s) until no delivery is pending:
//	                                   200 {"idle": true, "deliveries": [...]}, or 504 with "idle": false
//	GET    /_fake/requests             recorded API requests (?method=, ?path= exact, ?prefix=);
//	                                   secrets in headers, queries and bodies are redacted: the values
//	                                   of secret names (password, secret, token, ...) and the passwords
//	                                   of URLs (https://user:[redacted]@host/path)
//	DELETE /_fake/requests             forget them
//
// A fault has the fields method, path (a path prefix), count, probability,
// status, retryAfter, message, drop ("before" or "after"), delay (a duration)
// and after (act first, then misbehave): those of chatshippertest.Fault.
//
// The fake is for tests: its tokens and passwords are printed, its signing
// key follows from -rand-seed, and the control API has no authentication.
// Keep it on a loopback address.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// faultFlags collects repeated -fault flags.
type faultFlags []faultSpec

func (f *faultFlags) String() string { return fmt.Sprintf("%d faults", len(*f)) }

func (f *faultFlags) Set(v string) error {
	spec, err := parseFault([]byte(v))
	if err != nil {
		return err
	}
	*f = append(*f, spec)
	return nil
}

// config is what the flags say.
type config struct {
	addr        string
	json        bool
	seedFile    string
	profile     string
	rateLimit   int
	identical   int
	identWin    time.Duration
	consecutive int
	consecWin   time.Duration
	tokenTTL    time.Duration
	hookRetry   time.Duration
	hookTries   int
	faults      faultFlags
	clockStart  string
	clockSkew   time.Duration
	frozen      bool
	randSeed    int64
	watchStdin  bool
	grace       time.Duration

	// Read from the flags by check.
	prof  chatshippertest.Profile
	start time.Time // -clock-start; zero: none
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	var c config
	fs := flag.NewFlagSet("chatshipper-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "`host:port` to listen on (port 0: a free one)")
	fs.BoolVar(&c.json, "json", false, "print the start information as one line of JSON")
	fs.StringVar(&c.seedFile, "seed-file", "", "a JSON seed `file` with more organizations, users, bots, channels, conversations and tokens")
	fs.StringVar(&c.profile, "profile", "default", "a `profile` name, or names joined by +, from chatshippertest.Profiles")
	fs.IntVar(&c.rateLimit, "rate-limit", 20, "requests per sliding second per token and per client IP (0: off)")
	fs.IntVar(&c.identical, "loop-identical", 8, "identical bot messages allowed per window and conversation (0: off)")
	fs.DurationVar(&c.identWin, "loop-identical-window", 3*time.Minute, "the window of -loop-identical")
	fs.IntVar(&c.consecutive, "loop-consecutive", 20, "consecutive bot messages allowed per window and conversation (0: off)")
	fs.DurationVar(&c.consecWin, "loop-consecutive-window", time.Hour, "the window of -loop-consecutive")
	fs.DurationVar(&c.tokenTTL, "token-ttl", 24*time.Hour, "lifetime of access tokens from POST /v2/auth/token")
	fs.DurationVar(&c.hookRetry, "webhook-retry", 500*time.Millisecond, "delay before the first retry of a failed webhook delivery (doubling)")
	fs.IntVar(&c.hookTries, "webhook-attempts", 5, "attempts per webhook delivery")
	fs.Var(&c.faults, "fault", "a fault to inject at start, as `JSON` (repeatable)")
	fs.StringVar(&c.clockStart, "clock-start", "", "the fake's `time` at start, RFC 3339 (default: now)")
	fs.DurationVar(&c.clockSkew, "clock-skew", 0, "run the fake's clock this far from real time")
	fs.BoolVar(&c.frozen, "clock-frozen", false, "keep the clock still; only the control API moves it")
	fs.Int64Var(&c.randSeed, "rand-seed", 1, "seed of generated ids, names and secrets")
	fs.BoolVar(&c.watchStdin, "watch-stdin", false, "also stop when standard input closes")
	fs.DurationVar(&c.grace, "shutdown-grace", 5*time.Second, "how long requests in flight at a stop may take to finish (0: drop them)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// check refuses flag values the fake cannot use, naming the flag, so that
// every flag error stops the command with exit status 2 before it builds or
// listens on anything.
func (c *config) check() error {
	if err := checkAddr(c.addr); err != nil {
		return err
	}
	p, err := chatshippertest.ParseProfile(c.profile)
	if err != nil {
		return fmt.Errorf("-profile: %w", err)
	}
	c.prof = p
	positive := func(name string, d time.Duration) error {
		if d <= 0 {
			return fmt.Errorf("%s: %s: must be a positive duration such as \"90s\" or \"1h\"", name, d)
		}
		return nil
	}
	switch {
	case c.rateLimit < 0:
		return fmt.Errorf("-rate-limit: %d: must be 0 (off) or more", c.rateLimit)
	case c.identical < 0:
		return fmt.Errorf("-loop-identical: %d: must be 0 (off) or more", c.identical)
	case c.consecutive < 0:
		return fmt.Errorf("-loop-consecutive: %d: must be 0 (off) or more", c.consecutive)
	case c.hookTries < 1:
		return fmt.Errorf("-webhook-attempts: %d: must be 1 or more", c.hookTries)
	case c.grace < 0:
		return fmt.Errorf("-shutdown-grace: %s: must be 0 (drop requests in flight) or more", c.grace)
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"-loop-identical-window", c.identWin}, {"-loop-consecutive-window", c.consecWin},
		{"-token-ttl", c.tokenTTL}, {"-webhook-retry", c.hookRetry}} {
		if err := positive(d.name, d.d); err != nil {
			return err
		}
	}
	if c.clockStart != "" && c.clockSkew != 0 {
		return errors.New("-clock-start and -clock-skew both set the clock: give one")
	}
	if c.clockStart != "" {
		t, err := time.Parse(time.RFC3339Nano, c.clockStart)
		if err != nil {
			return fmt.Errorf("-clock-start: %q is not an RFC 3339 time such as 2024-05-01T09:00:00Z", c.clockStart)
		}
		if err := checkClockTime(t); err != nil {
			return fmt.Errorf("-clock-start: %s", err)
		}
		c.start = t
	}
	if err := checkClockTime(time.Now().Add(c.clockSkew)); err != nil {
		return fmt.Errorf("-clock-skew: %s: %s", c.clockSkew, err)
	}
	return nil
}

// checkAddr refuses an -addr that is not host:port with a numeric port, so
// that it is a flag error rather than a failure to listen.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = fmt.Errorf("the port %q is not a number from 0 to 65535", port)
		}
	}
	if err != nil {
		return fmt.Errorf("-addr: %q is not host:port such as 127.0.0.1:8026 (port 0: a free one): %v", addr, err)
	}
	return nil
}

// run is the command; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Signals first: a harness may stop the fake while it is starting.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, stop := context.WithCancel(sigCtx)
	defer stop()

	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		complain(stderr, err)
		return 2
	}
	if cfg.watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			stop()
		}()
	}
	f, err := newFake(cfg)
	if err != nil {
		complain(stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		complain(stderr, err)
		return 1
	}
	if warn := exposure(ln.Addr()); warn != "" {
		complain(stderr, "warning: "+warn)
	}
	if err := f.start(baseURL(ln.Addr())); err != nil {
		_ = ln.Close()
		complain(stderr, err)
		return 1
	}
	defer f.close()

	hs := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	if err := f.printInfo(stdout, cfg.json); err != nil {
		complain(stderr, err)
		return 1
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		complain(stderr, err)
		return 1
	}
	shutdown(hs, f, cfg.grace)
	return 0
}

// shutdown stops the command gracefully: the listener closes at once and the
// control API's long polls end, while the requests in flight (those held by
// a Delay fault too) get up to grace to finish and be answered. What is still
// running then, or at a second SIGINT or SIGTERM, is dropped unanswered (a
// Delay fault's promise: an empty answer would tell the client it was
// served). Webhook deliveries stop last.
func shutdown(hs *http.Server, f *fake, grace time.Duration) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	f.endPolls()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		select {
		case <-again:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := hs.Shutdown(ctx); err != nil {
		// The grace is over: end the Delay faults (their connections are
		// dropped), then close whatever is left.
		f.close()
		_ = hs.Close()
	}
	f.close()
}

// complain writes a line to stderr; there is nowhere else to report a
// failure to write it.
func complain(stderr io.Writer, v any) {
	_, _ = fmt.Fprintln(stderr, "chatshipper-fake:", v)
}

// baseURL is the URL clients use for a listener's address: a wildcard
// address is reached on loopback.
func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(host.String(), fmt.Sprint(tcp.Port))
}

// exposure warns when the fake is reachable from other hosts.
func exposure(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return ""
	}
	return "listening on " + a.String() + ", not a loopback address: anyone who reaches it can use the fake, its printed tokens and its control API"
}

// info is the start information (-json, GET /_fake/, POST /_fake/reset).
type info struct {
	URL          string                          `json:"url"`
	Host         string                          `json:"host"`
	Control      string                          `json:"control"`
	Profile      string                          `json:"profile"`
	Organization string                          `json:"organization"`
	Channels     []string                        `json:"channels"`
	Form         string                          `json:"form"`
	Tokens       map[string]string               `json:"tokens"`
	Users        infoUsers                       `json:"users"`
	SeedFile     *chatshippertest.SeedFileResult `json:"seedFile,omitempty"`
}

type infoUsers struct {
	Bot    infoUser   `json:"bot"`
	Admin  infoUser   `json:"admin"`
	Agents []infoUser `json:"agents"`
	Guest  infoUser   `json:"guest"`
}

type infoUser struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (f *fake) info() info {
	in := f.cur.Load()
	srv, sd := in.srv, in.srv.Seed
	user := func(id, email, password string) infoUser {
		u, _ := srv.Get("users", id)
		name, _ := u["name"].(string)
		return infoUser{ID: id, Name: name, Email: email, Password: password}
	}
	out := info{
		URL: srv.URL, Host: f.base, Control: f.base + "/_fake/", Profile: f.profile,
		Organization: sd.OrganizationID, Channels: sd.ChannelIDs, Form: sd.FormID,
		Tokens: map[string]string{"bot": srv.Token, "admin": srv.AdminToken, "agent": srv.AgentToken, "guest": srv.GuestToken},
		Users: infoUsers{
			Bot:   user(sd.BotUserID, sd.BotEmail, sd.BotPassword),
			Admin: user(sd.AdminUserID, sd.AdminEmail, sd.AdminPassword),
			Guest: user(sd.GuestUserID, sd.GuestEmail, sd.GuestPassword),
		},
		SeedFile: in.seeded,
	}
	for i, id := range sd.AgentUserIDs {
		out.Users.Agents = append(out.Users.Agents, user(id, sd.AgentEmails[i], sd.AgentPassword))
	}
	return out
}

// printInfo prints the start information, as JSON or as text.
func (f *fake) printInfo(w io.Writer, asJSON bool) error {
	in := f.info()
	if asJSON {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "chatshipper-fake: the fake ChatShipper API (profile %s)\n", in.Profile)
	fmt.Fprintf(&b, "  API base URL  %s\n  control API   %s\n", in.URL, in.Control)
	fmt.Fprintf(&b, "  organization  %s  channels %s  form %s\n", in.Organization, strings.Join(in.Channels, ", "), in.Form)
	fmt.Fprintln(&b, "Users (id, login, token):")
	row := func(role string, u infoUser, token string) {
		fmt.Fprintf(&b, "  %-6s %s  %-12s %s / %s\n", role, u.ID, u.Name, u.Email, u.Password)
		if token != "" {
			fmt.Fprintf(&b, "         token %s\n", token)
		}
	}
	row("bot", in.Users.Bot, in.Tokens["bot"])
	row("admin", in.Users.Admin, in.Tokens["admin"])
	for i, a := range in.Users.Agents {
		tok := ""
		if i == 0 {
			tok = in.Tokens["agent"]
		}
		row("agent", a, tok)
	}
	row("guest", in.Users.Guest, in.Tokens["guest"])
	if sf := in.SeedFile; sf != nil {
		fmt.Fprintf(&b, "Seed file %s:\n", f.cfg.seedFile)
		for _, o := range sf.Organizations {
			fmt.Fprintf(&b, "  organization  %s  %s\n", o.ID, o.Name)
		}
		for _, u := range sf.Users {
			fmt.Fprintf(&b, "  %-13s %s  %s <%s>\n", u.Role, u.ID, u.Name, u.Email)
		}
		for _, u := range sf.Bots {
			fmt.Fprintf(&b, "  bot           %s  %s <%s>\n                token %s\n", u.ID, u.Name, u.Email, u.Token)
		}
		for _, c := range sf.Channels {
			fmt.Fprintf(&b, "  channel       %s  %s\n", c.ID, c.Name)
		}
		for _, c := range sf.Conversations {
			fmt.Fprintf(&b, "  conversation  %s  %s (%s)\n", c.ID, c.Name, c.Status)
		}
		for _, t := range sf.Tokens {
			exp := "permanent"
			if t.ExpiresAt != "" {
				exp = "expires " + t.ExpiresAt
			}
			fmt.Fprintf(&b, "  token %q of %s (%s)\n                %s\n", t.Name, t.User, exp, t.Token)
		}
	}
	fmt.Fprintln(&b, "Stop with Ctrl-C (SIGINT) or SIGTERM.")
	_, err := w.Write(b.Bytes())
	return err
}
