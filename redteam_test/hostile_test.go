package redteam_test

// A hostile but documentation-following messages server, with knobs for
// everything the API documentation leaves open.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
)

const convA = "5bb0277fd99faf11a3f4a37e"
const convB = "5bb0277fd99faf11a3f4a37f"

type hmsg struct {
	ID           string         `json:"id"`
	Conversation string         `json:"conversation"`
	Type         string         `json:"type"`
	Role         string         `json:"role,omitempty"`
	Text         string         `json:"text"`
	Meta         map[string]any `json:"meta,omitempty"`
	CreatedAt    string         `json:"createdAt"`
}

type hostile struct {
	mu      sync.Mutex
	seq     int
	msgs    []hmsg
	reqs    []string
	pageCap int  // cap every list page
	noHdrs  bool // no X-Total*, X-Per-Page, Link
	newest  bool // lists newest first
	strip   bool // list answers omit meta
	// postFault: for the first postFaults POSTs, store then answer this status (0 = none)
	postFault  int
	postFaults int
	// postDrop: store then hijack+close the connection
	postDrop bool
	// reorder: POST answer lists the stored messages in reverse
	reorder bool
	// stripPost: the POST answer leaves meta out
	stripPost bool
	// lookupFail: status for GET /v2/messages (0 = ok)
	lookupFail int
	skew       time.Duration
	idMode     int // 0 honour id>X, 1 ignore, 2 match nothing, 3 refuse 400
	ts         *httptest.Server
}

func newHostile(t *testing.T, h *hostile) *hostile {
	h.ts = httptest.NewServer(h)
	t.Cleanup(h.ts.Close)
	return h
}

func (h *hostile) client(t *testing.T, opts ...chatshipper.Option) *chatshipper.Client {
	base := []chatshipper.Option{
		chatshipper.WithBaseURL(h.ts.URL + "/v2/"),
		chatshipper.WithRateLimit(0),
		chatshipper.WithLoopGuard(false),
		chatshipper.WithRetryWait(time.Millisecond, 5*time.Millisecond),
	}
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// add stores messages directly (as another writer would).
func (h *hostile) add(conv string, texts ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range texts {
		h.seq++
		h.msgs = append(h.msgs, hmsg{ID: fmt.Sprintf("6000000000000000%08x", h.seq), Conversation: conv, Type: "chat", Text: t,
			CreatedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")})
	}
}

func (h *hostile) remove(text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.msgs {
		if m.Text == text {
			h.msgs = append(h.msgs[:i:i], h.msgs[i+1:]...)
			return
		}
	}
}

func (h *hostile) count(text string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m.Text == text {
			n++
		}
	}
	return n
}

func (h *hostile) posts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.reqs {
		if strings.HasPrefix(r, "POST") {
			n++
		}
	}
	return n
}

func (h *hostile) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.reqs, "\n")
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.reqs = append(h.reqs, r.Method+" "+r.URL.RequestURI())
	h.mu.Unlock()
	w.Header().Set("Date", time.Now().Add(h.skew).UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v2/conversations/") && strings.HasSuffix(r.URL.Path, "/messages"):
		conv := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/conversations/"), "/messages")
		var raw json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			http.Error(w, `{"message":"bad json"}`, 400)
			return
		}
		var ins []hmsg
		if len(raw) > 0 && raw[0] == '[' {
			json.Unmarshal(raw, &ins)
		} else {
			var one hmsg
			json.Unmarshal(raw, &one)
			ins = []hmsg{one}
		}
		h.mu.Lock()
		var out []hmsg
		for _, m := range ins {
			h.seq++
			m.ID = fmt.Sprintf("6000000000000000%08x", h.seq)
			m.Conversation = conv
			if m.Type == "" {
				m.Type = "chat"
			}
			m.CreatedAt = time.Now().Add(h.skew).UTC().Format("2006-01-02T15:04:05.000Z")
			h.msgs = append(h.msgs, m)
			out = append(out, m)
		}
		fault := 0
		if h.postFaults > 0 {
			h.postFaults--
			fault = h.postFault
		}
		h.mu.Unlock()
		if fault == -1 || (fault != 0 && h.postDrop) {
			hj := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		if fault != 0 {
			w.WriteHeader(fault)
			fmt.Fprintf(w, `{"message":"boom"}`)
			return
		}
		if h.stripPost {
			for i := range out {
				out[i].Meta = nil
			}
		}
		if h.reorder {
			for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
				out[i], out[j] = out[j], out[i]
			}
		}
		w.WriteHeader(201)
		if len(raw) > 0 && raw[0] == '[' {
			json.NewEncoder(w).Encode(out)
		} else {
			json.NewEncoder(w).Encode(out[0])
		}
	case r.Method == "GET" && r.URL.Path == "/v2/messages":
		if h.lookupFail != 0 {
			w.WriteHeader(h.lookupFail)
			fmt.Fprint(w, `{"message":"lookup down"}`)
			return
		}
		q := r.URL.Query()
		h.mu.Lock()
		var sel []hmsg
		for _, m := range h.msgs {
			if c := q.Get("conversation"); c != "" && m.Conversation != c {
				continue
			}
			if kv := q.Get("meta." + chatshipper.DeliveryKeyMeta); kv != "" {
				kv = strings.TrimSuffix(strings.TrimPrefix(kv, "["), "]")
				ok := false
				for _, k := range strings.Split(kv, ",") {
					if s, _ := m.Meta[chatshipper.DeliveryKeyMeta].(string); s == k {
						ok = true
					}
				}
				if !ok {
					continue
				}
			}
			if ca := q.Get("createdAt"); strings.HasPrefix(ca, ">=") {
				if m.CreatedAt < ca[2:] {
					continue
				}
			}
			if id := q.Get("id"); id != "" {
				if h.idMode == 3 {
					h.mu.Unlock()
					w.WriteHeader(400)
					fmt.Fprintf(w, `{"message":"Cast to ObjectId failed for value %q at path \"_id\""}`, id)
					return
				}
				if h.idMode == 2 {
					continue
				}
				if h.idMode == 0 {
					if strings.HasPrefix(id, ">=") {
						if m.ID < id[2:] {
							continue
						}
					} else if strings.HasPrefix(id, ">") {
						if m.ID <= id[1:] {
							continue
						}
					} else if m.ID != id {
						continue
					}
				}
			}
			sel = append(sel, m)
		}
		h.mu.Unlock()
		sort.Slice(sel, func(i, j int) bool {
			if h.newest {
				return sel[i].ID > sel[j].ID
			}
			return sel[i].ID < sel[j].ID
		})
		total := len(sel)
		off, _ := strconv.Atoi(q.Get("offset"))
		lim := 200
		if l := q.Get("limit"); l != "" {
			lim, _ = strconv.Atoi(l)
		}
		if h.pageCap > 0 && lim > h.pageCap {
			lim = h.pageCap
		}
		if off > len(sel) {
			off = len(sel)
		}
		end := off + lim
		if end > len(sel) {
			end = len(sel)
		}
		page := append([]hmsg(nil), sel[off:end]...)
		if h.strip {
			for i := range page {
				page[i].Meta = nil
			}
		}
		if !h.noHdrs {
			w.Header().Set("X-Total", strconv.Itoa(total))
			w.Header().Set("X-Per-Page", strconv.Itoa(lim))
			if end < total {
				nq := r.URL.Query()
				nq.Set("offset", strconv.Itoa(end))
				nq.Set("limit", strconv.Itoa(lim))
				w.Header().Set("Link", fmt.Sprintf(`<%s/v2/messages?%s>; rel="next"`, h.ts.URL, nq.Encode()))
			}
		}
		w.WriteHeader(200)
		json.NewEncoder(w).Encode(page)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"message":"not found"}`)
	}
}

type slowPost struct {
	h *hostile
	d time.Duration
}

// slowPost stores a POST at once, then answers it after d.
func (s *slowPost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" {
		s.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	time.Sleep(s.d)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}
