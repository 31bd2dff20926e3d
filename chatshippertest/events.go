package chatshippertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Webhook event payloads (https://developers.web1on1.chat/webhooks/payloads): built when a transaction
// commits, from the final state, for every active webhook whose organization
// owns the event and whose params.events match it.

// activeHook is a snapshot of an active webhook service, or of an unverified
// one whose challenge is under way (pending): its events are held until the
// challenge passes.
type activeHook struct {
	id, org, url, secret string
	patterns             []string
	pending              bool
}

// activeHooks lists the active webhooks and those being verified; callers
// hold s.mu.
func (s *Server) activeHooks() []activeHook {
	var out []activeHook
	for _, svc := range s.store.all("services") {
		if str(svc, "type") != "webhook" {
			continue
		}
		p := obj(svc, "params")
		id, target := str(svc, "id"), str(p, "url")
		pending := false
		switch str(svc, "status") {
		case "active":
		case "unverified":
			if !s.hooks.isVerifying(id, target) {
				continue
			}
			pending = true
		default:
			continue
		}
		pats, _ := strs(p["events"])
		out = append(out, activeHook{id: id, org: str(svc, "organization"),
			url: target, secret: str(p, "secret"), patterns: pats, pending: pending})
	}
	return out
}

func (h activeHook) wants(name, orgPath string) bool {
	if !slices.Contains(strings.Split(orgPath, "#"), h.org) {
		return false // events of its organization and sub-organizations only
	}
	if len(h.patterns) == 0 {
		return true
	}
	return slices.ContainsFunc(h.patterns, func(p string) bool { return matchEvent(p, name) })
}

// buildEvents turns the transaction's events into deliveries; callers hold s.mu.
func (s *Server) buildEvents(t *tx) []delivery {
	if len(t.events) == 0 && len(t.changed) == 0 {
		return nil
	}
	hooks := s.activeHooks()
	if len(hooks) == 0 {
		return nil
	}
	evs := t.events
	if len(t.changed) > 0 {
		actor := ""
		if len(evs) > 0 {
			actor = evs[0].actor
		}
		for _, id := range t.changed {
			// A conversation created or deleted in this request is reported by that event.
			if !slices.ContainsFunc(evs, func(e pendingEvent) bool {
				return e.coll == "conversations" && e.id == id && e.action != "update"
			}) {
				evs = append(evs, pendingEvent{coll: "conversations", id: id, action: "update", actor: actor})
			}
		}
	}
	var out []delivery
	for _, ev := range evs {
		name, orgPath, payload := s.eventPayload(ev, t.now)
		if payload == nil {
			continue
		}
		var body []byte
		for _, h := range hooks {
			if !h.wants(name, orgPath) || h.pending && ev.coll == "services" && ev.id == h.id {
				continue // a webhook being verified is not told about its own change
			}
			if body == nil {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if enc.Encode(payload) != nil {
					break
				}
				body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			}
			out = append(out, delivery{hook: h.id, url: h.url, secret: h.secret,
				event: name, id: payload["id"].(string), body: body, pending: h.pending})
		}
	}
	return out
}

// eventPayload renders one event; payload is nil when the document is gone.
func (s *Server) eventPayload(ev pendingEvent, now time.Time) (string, string, doc) {
	d := ev.snapshot
	if d == nil {
		var ok bool
		if d, ok = s.store.get(ev.coll, ev.id); !ok {
			return "", "", nil
		}
	}
	d = cloneDoc(d)
	if ev.coll == "services" {
		delete(obj(d, "params"), "secret") // never hand one webhook's secret to another
	}
	res := singular(ev.coll)
	name := res + "." + ev.action
	org := str(d, "organization")
	switch ev.coll {
	case "organizations":
		org = str(d, "id")
	case "users":
		org, _ = userOrg(d, "")
	}
	orgPath := org
	if o, ok := s.store.get("organizations", org); ok {
		orgPath = orgPathOf(o)
	}
	base := s.URL
	links := map[string]any{res: base + ev.coll + "/" + ev.id}
	if org != "" {
		links["organization"] = base + "organizations/" + org
	}
	data := map[string]any{res: d, "links": links}
	what := "a " + res
	if ev.coll == "messages" {
		conv, _ := s.store.get("conversations", str(d, "conversation"))
		if ev.action == "create" {
			name = fmt.Sprintf("message.create.%s.%s", str(conv, "type"), str(d, "type"))
		}
		what = "a " + str(d, "type") + " message"
		if conv != nil {
			data["conversation"] = cloneDoc(conv)
			links["conversation"] = base + "conversations/" + str(conv, "id")
		}
		if u := str(d, "user"); u != "" {
			links["user"] = base + "users/" + u
		}
	}
	if c := str(d, "contact"); c != "" && (ev.coll == "messages" || ev.coll == "conversations") {
		links["contact"] = base + "contacts/" + c
	}
	actorName := ev.actor
	if u, ok := s.store.get("users", ev.actor); ok {
		actorName = str(u, "name")
	}
	ts := formatTime(now)
	verb := strings.ToUpper(ev.action[:1]) + ev.action[1:]
	return name, orgPath, doc{
		"id":           s.eventID(),
		"event":        name,
		"timestamp":    ts,
		"organization": org,
		"activity": map[string]any{
			"@context":  "https://www.w3.org/ns/activitystreams",
			"type":      verb,
			"actor":     map[string]any{"id": base + "users/" + ev.actor, "type": "Person"},
			"object":    map[string]any{"id": base + ev.coll + "/" + ev.id, "type": "Object"},
			"published": ts,
			"summary":   fmt.Sprintf("User %s %sd %s", actorName, ev.action, what),
		},
		"data": data,
	}
}
