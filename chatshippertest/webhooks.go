package chatshippertest

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the platform signs webhooks with HMAC-SHA1 (X-Hub-Signature)
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Webhooks (https://developers.web1on1.chat/webhooks/creating): services of type "webhook" are verified with a
// challenge GET and then receive signed event POSTs, in order per webhook,
// retried with exponential backoff.

// hookTimeout bounds one verification or delivery attempt, as the real
// platform does.
const hookTimeout = 20 * time.Second

// WebhookDelivery is the outcome of one event sent (or being sent) to a webhook.
type WebhookDelivery struct {
	// Service is the webhook service id, URL where the event was posted.
	Service, URL string
	// Event is the event name, e.g. "message.create.bot.chat"; ID its uuid.
	Event, ID string
	// Attempts counts the POSTs made; Status is the last status answered (0
	// when the last attempt got no response).
	Attempts, Status int
	// Delivered reports a 2xx answer.
	Delivered bool
	// Repeat is 0 for an event's first delivery and n for its n-th
	// repetition ([WithWebhookRepeats]): the same ID and body again.
	Repeat int
}

// delivery is one event queued for one webhook.
type delivery struct {
	hook, url, secret string
	event, id         string
	body              []byte
	// pending: built while the webhook's challenge was under way; held
	// until it passes, dropped if it fails.
	pending bool
}

// webhookDispatcher owns the delivery queues and background goroutines.
// Goroutines exit when idle, so servers inside synctest bubbles end cleanly.
type webhookDispatcher struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	own    *http.Client // the default client (ownClient)

	mu      sync.Mutex
	queues  map[string][]delivery
	running map[string]bool
	// sched holds, per webhook, the deliveries waiting for their time when
	// deliveries are late, out of order or repeated (WithWebhookDelay,
	// WithWebhookJitter, WithWebhookRepeats), earliest first; wake tells a
	// sleeping worker that an earlier one arrived. jitter draws the seeded
	// random lateness.
	sched  map[string][]*scheduled
	wake   map[string]chan struct{}
	seq    uint64
	jitter *rand.Rand

	pending int
	idle    chan struct{} // closed when pending drops to 0
	closed  bool
	log     []WebhookDelivery

	// verifying maps a webhook id to the URL whose challenge is under way;
	// held keeps the events raised meanwhile (counted in pending); verified
	// maps a webhook id to the URL that last passed, for held events
	// enqueued after the outcome.
	verifying map[string]string
	held      map[string][]delivery
	verified  map[string]string
}

func newWebhookDispatcher(s *Server) *webhookDispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhookDispatcher{s: s, ctx: ctx, cancel: cancel, own: ownClient(),
		queues: map[string][]delivery{}, running: map[string]bool{},
		sched: map[string][]*scheduled{}, wake: map[string]chan struct{}{},
		jitter:    rand.New(rand.NewPCG(uint64(s.cfg.seed), 0x6a6974746572)),
		verifying: map[string]string{}, held: map[string][]delivery{}, verified: map[string]string{}}
}

// isVerifying reports whether the challenge of webhook id at rawURL is under way.
func (d *webhookDispatcher) isVerifying(id, rawURL string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verifying[id] == rawURL
}

// startVerify notes that webhook id at rawURL is to be verified: from now on
// its events are held. Callers hold s.mu (inside the saving transaction, so
// no event raised after the save can miss the webhook).
func (d *webhookDispatcher) startVerify(id, rawURL string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.verifying[id] = rawURL
	delete(d.verified, id)
}

// cancelVerify undoes startVerify when the saving transaction rolls back.
func (d *webhookDispatcher) cancelVerify(id, rawURL string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.verifying[id] == rawURL {
		delete(d.verifying, id)
	}
}

// finishVerify ends the challenge of webhook id at rawURL: when it passed,
// the held events are queued (before any later event); otherwise they are
// dropped. Callers hold s.mu.
func (d *webhookDispatcher) finishVerify(id, rawURL string, passed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.verifying[id] == rawURL {
		delete(d.verifying, id)
	}
	var keep []delivery
	for _, dl := range d.held[id] {
		switch {
		case dl.url != rawURL:
			keep = append(keep, dl)
		case passed && !d.closed:
			d.queueLocked(dl)
		default:
			d.pending-- // dropped; the verification itself is still pending
		}
	}
	if len(keep) > 0 {
		d.held[id] = keep
	} else {
		delete(d.held, id)
	}
	if passed {
		d.verified[id] = rawURL
	}
}

func (d *webhookDispatcher) client() *http.Client {
	if c := d.s.cfg.hookClient; c != nil {
		return c
	}
	return d.own
}

// ownClient is the default webhook client: a transport of its own, cloned
// from http.DefaultTransport, because closing any httptest.Server closes the
// idle connections of http.DefaultTransport and now and then broke a POST
// the receiver had already handled (the retry then delivered the event
// twice). When http.DefaultTransport is not an *http.Transport (a test
// replaced it), http.DefaultClient is used.
func ownClient() *http.Client {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return &http.Client{Transport: t.Clone()}
	}
	return http.DefaultClient
}

// addLocked counts n more pending jobs; callers hold d.mu.
func (d *webhookDispatcher) addLocked(n int) {
	if d.pending == 0 && n > 0 {
		d.idle = make(chan struct{})
	}
	d.pending += n
}

func (d *webhookDispatcher) done() {
	d.mu.Lock()
	d.pending--
	if d.pending == 0 {
		close(d.idle)
	}
	d.mu.Unlock()
}

// enqueue queues deliveries, starting a worker per webhook that has none.
func (d *webhookDispatcher) enqueue(ds []delivery) {
	if len(ds) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, dl := range ds {
		if dl.pending {
			switch {
			case d.verifying[dl.hook] == dl.url:
				d.held[dl.hook] = append(d.held[dl.hook], dl)
				d.addLocked(1)
				continue
			case d.verified[dl.hook] != dl.url:
				continue // the challenge failed: the event is dropped
			}
		}
		d.addLocked(1)
		d.queueLocked(dl)
	}
}

// queueLocked appends a counted delivery to its webhook's queue, starting a
// worker when none runs; callers hold d.mu.
func (d *webhookDispatcher) queueLocked(dl delivery) {
	if cfg := d.s.cfg; cfg.hookDelay > 0 || cfg.hookJitter > 0 || cfg.hookRepeats > 0 {
		late := cfg.hookDelay
		if cfg.hookJitter > 0 {
			late += time.Duration(d.jitter.Int64N(int64(cfg.hookJitter)))
		}
		d.scheduleLocked(&scheduled{dl: dl, due: time.Now().Add(late)})
		return
	}
	d.queues[dl.hook] = append(d.queues[dl.hook], dl)
	if !d.running[dl.hook] {
		d.running[dl.hook] = true
		go d.worker(dl.hook)
	}
}

// worker delivers a webhook's queue in order and exits when it is empty.
func (d *webhookDispatcher) worker(hook string) {
	for {
		d.mu.Lock()
		q := d.queues[hook]
		if len(q) == 0 {
			delete(d.queues, hook)
			delete(d.running, hook)
			d.mu.Unlock()
			return
		}
		next := q[0]
		d.queues[hook] = q[1:]
		d.mu.Unlock()
		d.deliver(next)
		d.done()
	}
}

// scheduled is a delivery that waits for its time: late, out of order or
// repeated deliveries.
type scheduled struct {
	dl       delivery
	due      time.Time // on the timers' clock (time.Now: fake in a synctest bubble)
	seq      uint64    // ties between equal due times go in scheduling order
	attempts int       // POSTs made so far
	repeat   int       // 0: the event's first delivery; n: its n-th repetition
}

// scheduleLocked puts a counted delivery in its webhook's schedule and starts
// or wakes the webhook's worker; callers hold d.mu.
func (d *webhookDispatcher) scheduleLocked(it *scheduled) {
	d.seq++
	it.seq = d.seq
	q := d.sched[it.dl.hook]
	at, _ := slices.BinarySearchFunc(q, it, func(a, b *scheduled) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	d.sched[it.dl.hook] = slices.Insert(q, at, it)
	if d.running[it.dl.hook] {
		select {
		case d.wake[it.dl.hook] <- struct{}{}:
		default: // a wake-up is already waiting
		}
		return
	}
	d.running[it.dl.hook] = true
	d.wake[it.dl.hook] = make(chan struct{}, 1)
	go d.scheduledWorker(it.dl.hook)
}

// scheduledWorker sends a webhook's scheduled deliveries one at a time, each
// when it is due, earliest first; it exits when none is left. Once the server
// closes, what is left is abandoned.
func (d *webhookDispatcher) scheduledWorker(hook string) {
	for {
		d.mu.Lock()
		q := d.sched[hook]
		if len(q) == 0 {
			delete(d.sched, hook)
			delete(d.running, hook)
			delete(d.wake, hook)
			d.mu.Unlock()
			return
		}
		next := q[0]
		if wait := time.Until(next.due); wait > 0 && d.ctx.Err() == nil {
			wake := d.wake[hook]
			d.mu.Unlock()
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-wake:
			case <-d.ctx.Done():
			}
			timer.Stop()
			continue
		}
		d.sched[hook] = q[1:]
		d.mu.Unlock()
		if d.ctx.Err() != nil {
			d.done()
			continue
		}
		d.attempt(next)
	}
}

// attempt makes one POST of a scheduled delivery: a success is logged and,
// with WithWebhookRepeats, repeated later; a failure is due again after the
// doubling backoff until the attempts run out.
func (d *webhookDispatcher) attempt(it *scheduled) {
	cfg := d.s.cfg
	it.attempts++
	status := d.post(it.dl)
	delivered := status >= 200 && status < 300
	if !delivered && it.attempts < cfg.hookAttempts && d.ctx.Err() == nil {
		d.mu.Lock()
		it.due = time.Now().Add(cfg.hookInitial << (it.attempts - 1))
		d.scheduleLocked(it)
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	d.log = append(d.log, WebhookDelivery{Service: it.dl.hook, URL: it.dl.url, Event: it.dl.event, ID: it.dl.id,
		Attempts: it.attempts, Status: status, Delivered: delivered, Repeat: it.repeat})
	if delivered && it.repeat < cfg.hookRepeats && !d.closed {
		d.addLocked(1)
		d.scheduleLocked(&scheduled{dl: it.dl, due: time.Now().Add(cfg.hookRepeatGap), repeat: it.repeat + 1})
	}
	d.mu.Unlock()
	d.done()
}

// deliver posts one event, retrying failures (non-2xx, no response, timeout)
// with a doubling delay, up to the configured number of attempts.
func (d *webhookDispatcher) deliver(dl delivery) {
	cfg := d.s.cfg
	rec := WebhookDelivery{Service: dl.hook, URL: dl.url, Event: dl.event, ID: dl.id}
	delay := cfg.hookInitial
	for attempt := 1; attempt <= cfg.hookAttempts && d.ctx.Err() == nil; attempt++ {
		rec.Attempts = attempt
		rec.Status = d.post(dl)
		if rec.Status >= 200 && rec.Status < 300 {
			rec.Delivered = true
			break
		}
		if attempt == cfg.hookAttempts {
			break
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-d.ctx.Done():
			timer.Stop()
		}
		delay *= 2
	}
	d.mu.Lock()
	d.log = append(d.log, rec)
	d.mu.Unlock()
}

// post makes one delivery attempt and returns the status (0: no response).
func (d *webhookDispatcher) post(dl delivery) int {
	ctx, cancel := context.WithTimeout(d.ctx, hookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.url, strings.NewReader(string(dl.body)))
	if err != nil {
		return 0
	}
	mac := hmac.New(sha1.New, []byte(dl.secret))
	mac.Write(dl.body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("User-Agent", "chatshippertest-webhooks")
	resp, err := d.client().Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode
}

// challenge runs the subscription check: GET <url>?type=subscribe&challenge=X
// must answer 200 with X as the body (surrounding whitespace is tolerated).
func (d *webhookDispatcher) challenge(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	token := d.s.randomHex(16)
	q := u.Query()
	q.Set("type", "subscribe")
	q.Set("challenge", token)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(d.ctx, hookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil) //nolint:gosec // G704: the challenge goes to the URL the test registered, by design
	if err != nil {
		return false
	}
	resp, err := d.client().Do(req) //nolint:gosec // G704: the fake server delivers to the URL the test registered, by design
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return err == nil && resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == token
}

// verifyAsync verifies a new or moved webhook in the background; success
// activates it unless it changed meanwhile, and delivers the events held
// since it was saved.
func (d *webhookDispatcher) verifyAsync(id, rawURL string) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.addLocked(1)
	d.mu.Unlock()
	go func() {
		defer d.done()
		passed := d.challenge(rawURL)
		s := d.s
		s.mu.Lock()
		defer s.mu.Unlock()
		active := false
		if svc, ok := s.store.get("services", id); ok && str(obj(svc, "params"), "url") == rawURL {
			if passed && str(svc, "status") == "unverified" {
				svc["status"] = "active"
			}
			// Also active when a PATCH {"status":"active"} verified it meanwhile.
			active = str(svc, "status") == "active"
		}
		d.finishVerify(id, rawURL, active)
	}()
}

// close stops deliveries and verifications; queued events are dropped.
func (d *webhookDispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	if d.own != http.DefaultClient {
		d.own.CloseIdleConnections()
	}
}

// WaitDeliveries blocks until no webhook delivery or verification is pending
// (retries, late and repeated deliveries included), or ctx ends.
func (s *Server) WaitDeliveries(ctx context.Context) error {
	d := s.hooks
	d.mu.Lock()
	if d.pending == 0 {
		d.mu.Unlock()
		return nil
	}
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WebhookDeliveries returns the finished deliveries (successful or given
// up), in the order they finished.
func (s *Server) WebhookDeliveries() []WebhookDelivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]WebhookDelivery(nil), s.hooks.log...)
}

// randomHex returns n seeded random bytes as hex (secrets, challenges).
func (s *Server) randomHex(n int) string {
	b := make([]byte, n)
	s.rngMu.Lock()
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	s.rngMu.Unlock()
	return hex.EncodeToString(b)
}

// eventID returns a version-4 UUID for a webhook event: a seeded draw (so
// the seeded names, slugs and secrets that follow are the same as ever)
// mixed with the server's own random bytes, so event ids never repeat from
// one server to the next, whatever the seed: a dedupe store that outlives a
// test run must not take the next run's events for repeats.
func (s *Server) eventID() string {
	h := s.randomHex(16)
	b, _ := hex.DecodeString(h)
	for i := range b {
		b[i] ^= s.instance[i]
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// preverify runs the challenge for a PATCH that asks a webhook to become
// active, before anything is changed: failure answers 403 and stores nothing.
func (s *Server) preverify(c, id string, in doc) (bool, error) {
	if c != "services" || in["status"] != "active" {
		return false, nil
	}
	s.mu.Lock()
	d, ok := s.store.get(c, id)
	typ, target := str(d, "type"), str(obj(d, "params"), "url")
	s.mu.Unlock()
	if v, given := in["type"].(string); given {
		typ = v
	}
	if p, given := in["params"]; given {
		pm, _ := p.(map[string]any)
		target = str(pm, "url")
	}
	if !ok || typ != "webhook" {
		return false, nil
	}
	if target == "" || !s.hooks.challenge(target) {
		return false, errf(http.StatusForbidden, "Webhook verification failed")
	}
	return true, nil
}

// prepareWebhook validates a webhook service and runs its lifecycle: new or
// moved URLs are unverified until the challenge passes (in the background,
// holding the events raised meanwhile); a missing secret is generated.
func (s *Server) prepareWebhook(t *tx, d, prev doc) error {
	p := obj(d, "params")
	target := str(p, "url")
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return unprocessable("a webhook needs params.url, an absolute http(s) URL")
	}
	if ev, ok := p["events"]; ok {
		pats, ok := strs(ev)
		if !ok {
			return unprocessable("params.events must be an array of event patterns")
		}
		for _, pat := range pats {
			if checkPath(pat) != nil {
				return unprocessable("invalid event pattern %q", pat)
			}
		}
	}
	if sec, _ := p["secret"].(string); sec == "" {
		p["secret"] = s.randomHex(20)
	}
	moved := prev == nil || str(prev, "type") != "webhook" || str(obj(prev, "params"), "url") != target
	switch {
	case t.verified:
		d["status"] = "active"
	case moved:
		d["status"] = "unverified"
		id := str(d, "id")
		s.hooks.startVerify(id, target)
		t.undo = append(t.undo, func() { s.hooks.cancelVerify(id, target) })
		t.after = append(t.after, func() { s.hooks.verifyAsync(id, target) })
	}
	return nil
}

// matchEvent reports whether an event name matches a subscription pattern:
// "*" stands for exactly one dot-separated word, "**" for any number.
func matchEvent(pattern, name string) bool {
	return matchWords(strings.Split(pattern, "."), strings.Split(name, "."))
}

func matchWords(p, n []string) bool {
	if len(p) == 0 {
		return len(n) == 0
	}
	if p[0] == "**" {
		for i := 0; i <= len(n); i++ {
			if matchWords(p[1:], n[i:]) {
				return true
			}
		}
		return false
	}
	if len(n) == 0 || p[0] != "*" && p[0] != n[0] {
		return false
	}
	return matchWords(p[1:], n[1:])
}
