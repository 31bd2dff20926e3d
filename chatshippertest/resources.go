package chatshippertest

import (
	"net/http"
	"slices"
	"strings"
)

// route dispatches an API request after rate limiting.
func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) error {
	parts, ok := trimV2(r.URL.Path)
	if !ok || len(parts) == 0 {
		return errf(http.StatusNotFound, "Not found")
	}
	if parts[0] == "auth" {
		if len(parts) != 2 || parts[1] != "token" {
			return errf(http.StatusNotFound, "Not found")
		}
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, http.MethodPost)
		}
		return s.handleToken(w, body)
	}
	cl, err := s.authenticate(r)
	if err != nil {
		return err
	}
	c := parts[0]
	if !isCollection(c) || len(parts) > 3 {
		return errf(http.StatusNotFound, "Not found")
	}
	switch len(parts) {
	case 1:
		switch r.Method {
		case http.MethodGet:
			if err := permit(cl, opList, c, ""); err != nil {
				return err
			}
			return s.list(w, r, c)
		case http.MethodPost:
			if err := permit(cl, opCreate, c, ""); err != nil {
				return err
			}
			return s.create(w, c, cl, body)
		}
		return methodNotAllowed(w, http.MethodGet, http.MethodPost)
	case 2:
		id := parts[1]
		var op string
		switch r.Method {
		case http.MethodGet:
			op = opFetch
		case http.MethodPatch:
			op = opUpdate
		case http.MethodDelete:
			op = opDelete
		default:
			return methodNotAllowed(w, http.MethodGet, http.MethodPatch, http.MethodDelete)
		}
		if err := permit(cl, op, c, id); err != nil {
			return err
		}
		if !isID(id) {
			return errf(http.StatusBadRequest, "invalid %s id %q", singular(c), id)
		}
		switch op {
		case opFetch:
			return s.fetch(w, r, c, id)
		case opUpdate:
			return s.patch(w, c, id, cl, body)
		}
		return s.remove(w, c, id, cl)
	}
	// The only nested route: /v2/conversations/{id}/messages.
	if c != "conversations" || parts[2] != "messages" {
		return errf(http.StatusNotFound, "Not found")
	}
	id := parts[1]
	op := opCreate
	if r.Method == http.MethodGet {
		op = opList
	} else if r.Method != http.MethodPost {
		return methodNotAllowed(w, http.MethodGet, http.MethodPost)
	}
	if err := permit(cl, op, "messages", ""); err != nil {
		return err
	}
	if !isID(id) {
		return errf(http.StatusBadRequest, "invalid conversation id %q", id)
	}
	if op == opList {
		s.mu.Lock()
		_, ok := s.store.get("conversations", id)
		s.mu.Unlock()
		if !ok {
			return errf(http.StatusNotFound, "Conversation not found")
		}
		return s.list(w, r, "messages", filter{fields: []string{"conversation"}, op: opEq, value: id})
	}
	return s.postMessages(w, id, cl, body)
}

func methodNotAllowed(w http.ResponseWriter, allowed ...string) error {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return errf(http.StatusMethodNotAllowed, "Method not allowed")
}

// fetch serves GET /v2/{c}/{id}; select and populate apply, filters are ignored.
func (s *Server) fetch(w http.ResponseWriter, r *http.Request, c, id string) error {
	q, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		return errf(http.StatusBadRequest, "%v", err)
	}
	if err := checkPopulate(c, q); err != nil {
		return err
	}
	out, ok := func() (doc, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		d, ok := s.store.get(c, id)
		if !ok {
			return nil, false
		}
		return s.render(c, d, q), true
	}()
	if !ok {
		return errf(http.StatusNotFound, "%s", notFoundMessage(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// systemFields are maintained by the server and ignored in request bodies.
var systemFields = []string{"id", "_id", "createdAt", "updatedAt"}

// create serves POST /v2/{c}.
func (s *Server) create(w http.ResponseWriter, c string, cl *caller, body []byte) error {
	switch c {
	case "conversations":
		return s.createConversation(w, cl, body)
	case "messages":
		return s.postMessages(w, "", cl, body)
	}
	in, err := decodeObject(body)
	if err != nil {
		return err
	}
	var out doc
	err = s.update(func(t *tx) error {
		d := cloneDoc(in)
		for _, k := range systemFields {
			delete(d, k)
		}
		id := s.newID()
		d["id"] = id
		if err := s.prepare(t, c, cl, d, nil); err != nil {
			return err
		}
		d["createdAt"], d["updatedAt"] = formatTime(t.now), formatTime(t.now)
		t.insert(c, d)
		t.emit(c, id, "create", cl.userID)
		out = cloneDoc(d)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// patch serves PATCH /v2/{c}/{id}: top-level keys are merged, nested objects
// and arrays replaced whole (https://developers.chatshipper.com/docs/api-introduction).
func (s *Server) patch(w http.ResponseWriter, c, id string, cl *caller, body []byte) error {
	in, err := decodeObject(body)
	if err != nil {
		return err
	}
	verified, err := s.preverify(c, id, in)
	if err != nil {
		return err
	}
	var out doc
	err = s.update(func(t *tx) error {
		d, ok := t.edit(c, id)
		if !ok {
			return errf(http.StatusNotFound, "%s", notFoundMessage(c))
		}
		prev := cloneDoc(d)
		for k, v := range in {
			if !slices.Contains(systemFields, k) {
				d[k] = cloneValue(v)
			}
		}
		t.verified = verified
		if err := s.prepare(t, c, cl, d, prev); err != nil {
			return err
		}
		// Documents stored by Put without timestamps stay without them, so a
		// fixture (like the spec's PATCH example) round-trips exactly.
		_, hasC := d["createdAt"]
		_, hasU := d["updatedAt"]
		if hasC || hasU {
			d["updatedAt"] = formatTime(t.now)
		}
		t.emit(c, id, "update", cl.userID)
		out = cloneDoc(d)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// remove serves DELETE /v2/{c}/{id}.
func (s *Server) remove(w http.ResponseWriter, c, id string, cl *caller) error {
	err := s.update(func(t *tx) error {
		d, ok := t.get(c, id)
		if !ok {
			return errf(http.StatusNotFound, "%s", notFoundMessage(c))
		}
		snap := cloneDoc(d)
		t.remove(c, id)
		switch c {
		case "messages":
			if conv, ok := t.edit("conversations", str(d, "conversation")); ok {
				conv["messages"] = slices.DeleteFunc(arr(conv, "messages"), func(e any) bool { return e == id })
			}
		case "users":
			for email, cr := range s.creds {
				if cr.userID == id {
					delete(s.creds, email)
					t.onRollback(func() { s.creds[email] = cr })
				}
			}
		}
		t.events = append(t.events, pendingEvent{coll: c, id: id, action: "delete", actor: cl.userID, snapshot: snap})
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// prepare validates and completes a document being created (prev nil) or
// patched (prev = the state before the merge). Semantic problems are 422s.
func (s *Server) prepare(t *tx, c string, cl *caller, d, prev doc) error {
	if c != "organizations" && c != "users" {
		if _, ok := d["organization"]; !ok {
			d["organization"] = cl.org
		}
		org, ok := d["organization"].(string)
		if !ok {
			return errf(http.StatusUnprocessableEntity, "organization must be an organization id")
		}
		if prev == nil || org != str(prev, "organization") {
			o, ok := t.get("organizations", org)
			if !ok {
				return errf(http.StatusUnprocessableEntity, "Organization %s not found", org)
			}
			if c == "contacts" || c == "botinstances" {
				d["orgPath"] = orgPathOf(o)
			}
		}
	}
	switch c {
	case "users":
		return s.prepareUser(t, cl, d, prev)
	case "organizations":
		if prev != nil {
			return nil
		}
		d["path"], d["level"] = str(d, "id"), float64(1)
		if parent, ok := d["parent"]; ok {
			pid, _ := parent.(string)
			p, ok := t.get("organizations", pid)
			if !ok {
				return errf(http.StatusUnprocessableEntity, "parent organization %v not found", parent)
			}
			d["path"] = orgPathOf(p) + "#" + str(d, "id")
			lvl, _ := p["level"].(float64)
			d["level"] = lvl + 1
		}
		d["orgPath"] = d["path"]
		if _, ok := d["categories"]; !ok {
			d["categories"] = []any{}
		}
	case "services":
		return s.prepareService(t, d, prev)
	case "contacts":
		if p, ok := d["profile"]; ok {
			if _, isObj := p.(map[string]any); !isObj {
				return errf(http.StatusUnprocessableEntity, "profile must be an object")
			}
		}
		if _, ok := d["presences"]; !ok && prev == nil {
			d["presences"] = []any{}
		}
	case "forms":
		if f, ok := d["fields"]; ok {
			if _, isArr := f.([]any); !isArr {
				return errf(http.StatusUnprocessableEntity, "fields must be an array")
			}
		} else if prev == nil {
			d["fields"] = []any{}
		}
	}
	return nil
}

// prepareUser keeps passwords out of the document (they go to the login
// table), enforces unique e-mail addresses and fills the derived fields.
func (s *Server) prepareUser(t *tx, cl *caller, d, prev doc) error {
	email, _ := d["email"].(string)
	key := strings.ToLower(email)
	if email != "" && (prev == nil || !strings.EqualFold(email, str(prev, "email"))) {
		if _, taken := s.creds[key]; taken {
			return errf(http.StatusUnprocessableEntity, "email %s is already in use", email)
		}
		for _, u := range s.store.all("users") {
			if strings.EqualFold(str(u, "email"), email) && str(u, "id") != str(d, "id") {
				return errf(http.StatusUnprocessableEntity, "email %s is already in use", email)
			}
		}
	}
	pw, hasPW := d["password"].(string)
	delete(d, "password")
	id := str(d, "id")
	if prev != nil && !strings.EqualFold(email, str(prev, "email")) {
		// The login moves with the address.
		if old, ok := s.creds[strings.ToLower(str(prev, "email"))]; ok {
			oldKey := strings.ToLower(str(prev, "email"))
			delete(s.creds, oldKey)
			t.onRollback(func() { s.creds[oldKey] = old })
			if !hasPW {
				pw, hasPW = old.password, true
			}
		}
	}
	if hasPW && email != "" {
		old, existed := s.creds[key]
		s.creds[key] = credential{userID: id, password: pw}
		t.onRollback(func() {
			if existed {
				s.creds[key] = old
			} else {
				delete(s.creds, key)
			}
		})
	}
	if prev == nil {
		role, _ := d["role"].(string)
		delete(d, "role")
		if role == "" {
			role = "agent"
		}
		if _, ok := d["organizations"]; !ok {
			d["organizations"] = []any{map[string]any{"organization": cl.org, "orgPath": cl.orgPath,
				"role": role, "selected": true}}
		}
		if _, ok := d["avatar"]; !ok {
			d["avatar"] = avatarURL(id)
		}
	}
	// name is derived from the name parts unless the client sets it.
	_, nameGiven := d["name"]
	partsChanged := prev != nil && (str(d, "givenName") != str(prev, "givenName") || str(d, "familyName") != str(prev, "familyName"))
	if prev == nil && !nameGiven || partsChanged && str(d, "name") == str(prev, "name") {
		delete(d, "name")
		withDerivedName("users", d, nil)
	}
	return nil
}

// prepareService applies service defaults: SmartSupp's port 5222 (which makes
// the spec's PATCH example reproduce) and the webhook lifecycle.
func (s *Server) prepareService(t *tx, d, prev doc) error {
	params, hasParams := d["params"]
	p, isObj := params.(map[string]any)
	if hasParams && !isObj {
		return errf(http.StatusUnprocessableEntity, "params must be an object")
	}
	switch str(d, "type") {
	case "smartsupp":
		if isObj {
			if _, ok := p["port"]; !ok {
				p["port"] = float64(5222)
			}
		}
	case "webhook":
		return s.prepareWebhook(t, d, prev)
	}
	return nil
}
