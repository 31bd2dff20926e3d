package chatshipper

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The request path passes each call's state explicitly, from the service
// method to the transports and the retry hooks: no file of the package
// puts a value into a context or reads one back (the values a user's
// Observer puts there are the user's own and pass through untouched).
func TestRequestPathReadsNoContextValues(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, 0)
		require.NoError(t, err)
		imported := map[string]bool{}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			n := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				n = imp.Name.Name
			}
			imported[n] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, isIdent := sel.X.(*ast.Ident)
			switch {
			case isIdent && x.Name == "context" && sel.Sel.Name == "WithValue":
				found = append(found, fset.Position(call.Pos()).String()+": context.WithValue")
			case sel.Sel.Name == "Value" && len(call.Args) == 1 && !(isIdent && imported[x.Name]):
				// A method Value(key): a context lookup (a conversion to a
				// package's type named Value, such as jsontext.Value, is not).
				found = append(found, fset.Position(call.Pos()).String()+": .Value(...)")
			}
			return true
		})
	}
	assert.Empty(t, found, "call state is passed explicitly, never through a context")
}

// pathObserver records the calls and attempts an Observer is told of.
type pathObserver struct {
	mu    sync.Mutex
	lines []string
}

func (o *pathObserver) add(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, fmt.Sprintf(format, args...))
}

func (o *pathObserver) StartCall(ctx context.Context, call CallInfo) context.Context {
	o.add("call %s.%s %s", call.Service, call.Method, call.Collection)
	return ctx
}

func (o *pathObserver) EndCall(_ context.Context, call CallInfo, res CallResult) {
	o.add("end %s.%s %s status=%d attempts=%d", call.Service, call.Method, res.Outcome, res.StatusCode, res.Attempts)
}

func (o *pathObserver) StartAttempt(ctx context.Context, a AttemptInfo) context.Context {
	o.add("attempt %s %s #%d", a.Method, a.URL, a.Attempt)
	return ctx
}

func (o *pathObserver) EndAttempt(context.Context, AttemptInfo, AttemptResult) {}

func (o *pathObserver) Decision(context.Context, Decision) {}

func (o *pathObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.lines
	o.lines = nil
	return out
}

// A token refresh made by a RefreshingTokenSource whose own client is
// observed is a call of that client ("Do"), with its own attempt; it is not
// counted as an attempt of the call that needed the token, whichever way
// the refresh came about (ahead of expiry, or after the server refused the
// token).
func TestObservedRefreshIsACallOfItsOwn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		initial func() string // the token held at the start
		current string        // the token the server accepts at the start ("": the initial one)
		want    []string
	}{
		{
			name: "ahead of expiry",
			initial: func() string {
				return makeJWT(map[string]any{"_id": "u1", "exp": time.Now().Add(30 * time.Second).Unix()})
			},
			want: []string{
				"call Users.List users",
				"call .Do auth",
				"attempt POST " + testBase + "auth/token #1",
				"end .Do ok status=201 attempts=1",
				"attempt GET " + testBase + "users #1",
				"end Users.List ok status=200 attempts=1",
			},
		},
		{
			name:    "after the server refused the token",
			initial: func() string { return makeJWT(map[string]any{"_id": "u1"}) },
			current: "something-else",
			want: []string{
				"call Users.List users",
				"attempt GET " + testBase + "users #1",
				"call .Do auth",
				"attempt POST " + testBase + "auth/token #1",
				"end .Do ok status=201 attempts=1",
				"attempt GET " + testBase + "users #2",
				"end Users.List ok status=200 attempts=2",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				mt := httpmock.NewMockTransport()
				srv := &refreshServer{ttl: time.Hour}
				srv.register(mt)
				initial := tc.initial()
				srv.current = initial
				if tc.current != "" {
					srv.current = tc.current
				}
				obs := &pathObserver{}
				opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithObserver(obs), WithRateLimit(0)}
				src, err := NewRefreshingTokenSource(RefreshConfig{
					Token:    Token{AccessToken: initial, RefreshToken: canaryRefresh},
					ClientID: "bot+1@chatshipper.com",
					Options:  opts,
				})
				require.NoError(t, err)
				c, err := NewClient("", append(opts, WithTokenSource(src))...)
				require.NoError(t, err)

				_, _, err = c.Users.List(context.Background(), nil)
				require.NoError(t, err)
				assert.Equal(t, int32(1), srv.refreshes.Load())
				assert.Equal(t, tc.want, obs.take())
			})
		})
	}
}
