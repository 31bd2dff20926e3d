package chatshippertest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// rateLimiter is a sliding one-second log of accepted requests per token and
// per client IP (https://developers.chatshipper.com/docs/api-introduction: 20 requests per second each).
type rateLimiter struct {
	mu   sync.Mutex
	logs map[string][]time.Time
}

func newRateLimiter() *rateLimiter { return &rateLimiter{logs: map[string][]time.Time{}} }

// allow admits r or answers 429 with Retry-After. Rejected requests do not
// count, so a client that waits Retry-After seconds gets through.
func (l *rateLimiter) allow(s *Server, r *http.Request) error {
	n := s.cfg.rateLimit
	if n == 0 {
		return nil
	}
	now := s.now()
	keys := []string{"ip " + clientIP(r)}
	if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
		keys = append(keys, "token "+a)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := time.Duration(0)
	for _, k := range keys {
		log := l.logs[k]
		i := 0
		for i < len(log) && !log[i].After(now.Add(-time.Second)) {
			i++
		}
		log = log[i:]
		l.logs[k] = log
		if len(log) >= n {
			wait = max(wait, log[len(log)-n].Add(time.Second).Sub(now))
		}
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
	consecutive []time.Time
	identical   map[string][]time.Time
}

func newLoopTracker() *loopTracker { return &loopTracker{convs: map[string]map[string]*loopState{}} }

func (st *loopState) clone() *loopState {
	c := &loopState{consecutive: append([]time.Time(nil), st.consecutive...), identical: map[string][]time.Time{}}
	for k, v := range st.identical {
		c.identical[k] = append([]time.Time(nil), v...)
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
		st = &loopState{identical: map[string][]time.Time{}}
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
	now := t.now
	st.identical[fp] = prune(st.identical[fp], now, cfg.identicalWindow)
	st.consecutive = prune(st.consecutive, now, cfg.consecutiveWindow)
	if same := st.identical[fp]; cfg.identical > 0 && len(same) >= cfg.identical {
		return &apiError{status: http.StatusTooManyRequests,
			msg:        fmt.Sprintf("Loop limit: more than %d identical messages in %s", cfg.identical, spell(cfg.identicalWindow)),
			retryAfter: ceilSeconds(same[len(same)-cfg.identical].Add(cfg.identicalWindow).Sub(now))}
	}
	if run := st.consecutive; cfg.consecutive > 0 && len(run) >= cfg.consecutive {
		return &apiError{status: http.StatusTooManyRequests,
			msg:        fmt.Sprintf("Loop limit: more than %d consecutive messages in %s", cfg.consecutive, spell(cfg.consecutiveWindow)),
			retryAfter: ceilSeconds(run[len(run)-cfg.consecutive].Add(cfg.consecutiveWindow).Sub(now))}
	}
	if cfg.identical > 0 {
		st.identical[fp] = append(st.identical[fp], now)
	}
	if cfg.consecutive > 0 {
		st.consecutive = append(st.consecutive, now)
	}
	return nil
}

// prune drops times older than window before now.
func prune(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-window)) {
		i++
	}
	if i == len(ts) {
		return nil
	}
	return ts[i:]
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
