package chatshippertest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// instant is a moment on the two clocks the limits measure elapsed time
// on: the server's (WithClock, WithClockSkew; what tests move) and the real
// one (time.Now with its monotonic reading: the bubble's clock under
// testing/synctest).
type instant struct {
	at, real time.Time
}

// since is how long ago i was at now: the time passed on the server's clock
// or really passed, whichever is more. Moving the server's clock ahead ends
// windows early, as the clock says; a clock that stands still (or is set
// back) does not hold them open, so a client that waits the Retry-After it
// was given for real is let through.
func (i instant) since(now instant) time.Duration {
	return max(now.at.Sub(i.at), now.real.Sub(i.real))
}

// slide keeps the instants of ts younger than window at now and reports how
// long until fewer than n of them remain (0 when fewer than n do now). The
// server's clock may have been set back, so ts is not in age order: every
// instant is checked.
func slide(ts []instant, now instant, window time.Duration, n int) ([]instant, time.Duration) {
	kept := ts[:0]
	var left []time.Duration
	for _, t := range ts {
		if age := t.since(now); age < window {
			kept = append(kept, t)
			left = append(left, window-age)
		}
	}
	if len(kept) == 0 {
		return nil, 0
	}
	if n <= 0 || len(kept) < n {
		return kept, 0
	}
	slices.Sort(left)
	return kept, left[len(left)-n]
}

// rateLimiter is a sliding one-second log of accepted requests per token and
// per client IP (https://developers.chatshipper.com/docs/api-introduction: 20 requests per second each).
// Its window counts elapsed time as [instant.since] does, so a Retry-After
// is true whatever the server's clock shows.
type rateLimiter struct {
	mu   sync.Mutex
	logs map[string][]instant
}

func newRateLimiter() *rateLimiter { return &rateLimiter{logs: map[string][]instant{}} }

// allow admits r or answers 429 with Retry-After. Rejected requests do not
// count, so a client that waits Retry-After seconds gets through.
func (l *rateLimiter) allow(s *Server, r *http.Request) error {
	n := s.cfg.rateLimit
	if n == 0 {
		return nil
	}
	now := s.instant()
	keys := []string{"ip " + clientIP(r)}
	if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
		keys = append(keys, "token "+a)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := time.Duration(0)
	for _, k := range keys {
		log, w := slide(l.logs[k], now, time.Second, n)
		if log == nil {
			delete(l.logs, k)
		} else {
			l.logs[k] = log
		}
		wait = max(wait, w)
	}
	if wait > 0 {
		return &apiError{status: http.StatusTooManyRequests, msg: "Too many requests", retryAfter: ceilSeconds(wait)}
	}
	for _, k := range keys {
		l.logs[k] = append(l.logs[k], now)
	}
	return nil
}

// ceilSeconds rounds d up to whole seconds, at least 1 (a Retry-After value).
func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// deliveryKeyMeta is the meta key under which the SDK puts each message's
// delivery key (github.com/go-chatshipper/chatshipper.DeliveryKeyMeta). It
// never makes two messages differ for the loop limit.
const deliveryKeyMeta = "chatshipperDeliveryKey"

// loopTracker keeps, per conversation and bot user, the times of the bot's
// messages since an agent or contact last spoke, and of identical messages.
type loopTracker struct {
	convs map[string]map[string]*loopState
}

type loopState struct {
	consecutive []instant
	identical   map[string][]instant
}

func newLoopTracker() *loopTracker { return &loopTracker{convs: map[string]map[string]*loopState{}} }

func (st *loopState) clone() *loopState {
	c := &loopState{consecutive: append([]instant(nil), st.consecutive...), identical: map[string][]instant{}}
	for k, v := range st.identical {
		c.identical[k] = append([]instant(nil), v...)
	}
	return c
}

// touchLoops snapshots the loop state of a conversation once per transaction.
func (t *tx) touchLoops(conv string) map[string]*loopState {
	lt := t.s.loops
	key := "loops/" + conv
	if !t.touched[key] {
		t.touched[key] = true
		prev, existed := lt.convs[conv]
		var saved map[string]*loopState
		if existed {
			saved = make(map[string]*loopState, len(prev))
			for k, v := range prev {
				saved[k] = v.clone()
			}
		}
		t.onRollback(func() {
			if existed {
				lt.convs[conv] = saved
			} else {
				delete(lt.convs, conv)
			}
		})
	}
	if lt.convs[conv] == nil {
		lt.convs[conv] = map[string]*loopState{}
	}
	return lt.convs[conv]
}

// checkLoop enforces the bot loop limits before a message is stored, with
// the reading documented in the package doc ("Bot loop limits"): a message
// with role agent or contact, whoever posts it, is a reply: it is not counted
// and resets the consecutive count of every bot in the conversation. Other
// messages count when the caller is a bot user. Identical means same type,
// text and meta (as decoded JSON: key order and number spelling do not
// matter; the delivery key is left out), or what WithIdenticalBy says.
func (s *Server) checkLoop(t *tx, cl *caller, conv, typ, text, role string, meta doc) error {
	if role == "contact" || role == "agent" {
		if len(s.loops.convs[conv]) > 0 {
			for _, st := range t.touchLoops(conv) {
				st.consecutive = nil
			}
		}
		return nil
	}
	if cl.role != "bot" {
		return nil
	}
	cfg := s.cfg
	if cfg.identical == 0 && cfg.consecutive == 0 {
		return nil
	}
	bots := t.touchLoops(conv)
	st := bots[cl.userID]
	if st == nil {
		st = &loopState{identical: map[string][]instant{}}
		bots[cl.userID] = st
	}
	if _, keyed := meta[deliveryKeyMeta]; keyed {
		meta = maps.Clone(meta)
		delete(meta, deliveryKeyMeta)
	}
	if len(meta) == 0 {
		meta = nil // an empty meta is no meta
	}
	var fpJSON []byte
	switch cfg.identicalBy {
	case IdenticalByText:
		fpJSON, _ = json.Marshal([]any{text})
	case IdenticalByTextMeta:
		fpJSON, _ = json.Marshal([]any{text, meta})
	default:
		fpJSON, _ = json.Marshal([]any{typ, text, meta})
	}
	fp := string(fpJSON)
	now := instant{at: t.now, real: t.real}
	same, sameWait := slide(st.identical[fp], now, cfg.identicalWindow, cfg.identical)
	run, runWait := slide(st.consecutive, now, cfg.consecutiveWindow, cfg.consecutive)
	st.identical[fp], st.consecutive = same, run
	if same == nil {
		delete(st.identical, fp)
	}
	if sameWait > 0 {
		return &apiError{status: http.StatusTooManyRequests,
			msg:        fmt.Sprintf("Loop limit: more than %d identical messages in %s", cfg.identical, spell(cfg.identicalWindow)),
			retryAfter: ceilSeconds(sameWait)}
	}
	if runWait > 0 {
		return &apiError{status: http.StatusTooManyRequests,
			msg:        fmt.Sprintf("Loop limit: more than %d consecutive messages in %s", cfg.consecutive, spell(cfg.consecutiveWindow)),
			retryAfter: ceilSeconds(runWait)}
	}
	if cfg.identical > 0 {
		st.identical[fp] = append(st.identical[fp], now)
	}
	if cfg.consecutive > 0 {
		st.consecutive = append(st.consecutive, now)
	}
	return nil
}

// spell renders a window the way the API's messages do: "3 minutes", "an hour".
func spell(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			if name == "hour" {
				return "an hour"
			}
			return "a " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	case d%time.Second == 0:
		return unit(int64(d/time.Second), "second")
	}
	return d.String()
}
