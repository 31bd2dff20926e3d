package replay

import (
	"errors"
	"flag"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
)

// RecordEnv is the environment variable that turns recording on for [New]
// when set to a true value ("1", "true").
const RecordEnv = "CHATSHIPPER_RECORD"

var recordFlag = flag.Bool("chatshipper.record", false,
	"record chatshipper replay fixtures against the real API instead of replaying them")

// Recording reports whether [New] records: the -chatshipper.record test flag
// is given (go test -run TestX -args -chatshipper.record) or CHATSHIPPER_RECORD
// holds a true value. Both are off by default, so tests replay.
func Recording() bool {
	if *recordFlag {
		return true
	}
	on, _ := strconv.ParseBool(os.Getenv(RecordEnv))
	return on
}

// Session is a test's recorder or replayer, chosen by [New].
type Session struct {
	rec *Recorder
	rep *Replayer
}

// New returns a Session for the fixtures in dir, conventionally
// "testdata/fixtures/" + t.Name(). When [Recording] is true (or
// [WithRecording] says so) it records: requests go to the real API through
// [WithTransport]'s transport and dir is rewritten. Otherwise it replays dir
// and nothing reaches the network; a missing dir fails the test with the
// command that records it. Errors setting up fail the test.
func New(tb testing.TB, dir string, opts ...Option) *Session {
	tb.Helper()
	c := newConfig(opts)
	recording := Recording()
	if c.recording != nil {
		recording = *c.recording
	}
	if recording {
		rec, err := NewRecorder(dir, opts...)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { tb.Logf("replay: recorded %d exchanges in %s", len(rec.Files()), dir) })
		return &Session{rec: rec}
	}
	rep, err := NewReplayer(dir, opts...)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("replay: no fixtures in %s; record them with: go test -run '^%s$' -args -chatshipper.record (or %s=1)",
			dir, tb.Name(), RecordEnv)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if unused := rep.Unused(); len(unused) > 0 {
			tb.Logf("replay: %d fixtures of %s were not replayed, first %s", len(unused), dir, unused[0])
		}
	})
	return &Session{rep: rep}
}

// Recording reports whether the session records.
func (s *Session) Recording() bool { return s.rec != nil }

// Recorder returns the recorder, or nil when the session replays.
func (s *Session) Recorder() *Recorder { return s.rec }

// Replayer returns the replayer, or nil when the session records.
func (s *Session) Replayer() *Replayer { return s.rep }

// Transport returns the session's [http.RoundTripper].
func (s *Session) Transport() http.RoundTripper {
	if s.rec != nil {
		return s.rec
	}
	return s.rep
}

// Client returns an *http.Client using the session's transport.
func (s *Session) Client() *http.Client { return &http.Client{Transport: s.Transport()} }

// ClientOptions returns the options that make a [chatshipper.Client] use the
// session: [chatshipper.WithHTTPClient] with [Session.Client]. When
// replaying they also turn off the client-side rate limit and shorten the
// waits between retries to a millisecond (a recorded Retry-After included),
// since no real server is there to protect: a replay takes no wall time.
// Options given after these override them.
func (s *Session) ClientOptions() []chatshipper.Option {
	opts := []chatshipper.Option{chatshipper.WithHTTPClient(s.Client())}
	if s.rep != nil {
		opts = append(opts, chatshipper.WithRateLimit(0), chatshipper.WithRetryWait(time.Millisecond, time.Millisecond))
	}
	return opts
}
