package chatshippertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Seed files: data for a server beyond the default seed, as JSON, so that
// tests in any language (through cmd/chatshipper-fake) and Go tests start
// from the same organizations, users, bots, tokens and conversations. The
// schema is in the package doc ("Seed files"). A file is checked whole
// before anything is stored (ParseSeedFile), then stored in one transaction
// (LoadSeedFile): it loads completely or not at all.

// SeedFile is a parsed and checked seed file; see [ParseSeedFile].
type SeedFile struct {
	sections map[string][]doc
}

// SeedFileResult is what [Server.LoadSeedFile] stored: the ids of every
// item, in file order, and the tokens issued.
type SeedFileResult struct {
	Organizations []SeededResource `json:"organizations"`
	Channels      []SeededResource `json:"channels"`
	Users         []SeededUser     `json:"users"`
	// Bots are bot users; each has a permanent token, like a bot's API key.
	Bots          []SeededUser     `json:"bots"`
	Tokens        []SeededToken    `json:"tokens"`
	Conversations []SeededResource `json:"conversations"`
}

// SeededResource is a seeded organization, channel or conversation.
type SeededResource struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Status is a conversation's status once its messages were processed.
	Status string `json:"status,omitempty"`
}

// SeededUser is a seeded user or bot.
type SeededUser struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
	// Token is a bot's permanent access token; empty for users (ask for
	// one in the file's tokens).
	Token string `json:"token,omitempty"`
}

// SeededToken is an access token the file asked for.
type SeededToken struct {
	Name  string `json:"name,omitempty"`
	User  string `json:"user"`
	Token string `json:"token"`
	// ExpiresAt is the token's expiry on the server's clock; empty for a
	// permanent token.
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// The kinds of values a seed file field may hold.
type seedKind int

const (
	kindString   seedKind = iota // a string
	kindID                       // a string of 24 hex characters
	kindIDs                      // an array of ids
	kindStrings                  // an array of strings
	kindBool                     // true or false
	kindObject                   // any JSON object
	kindArray                    // any JSON array
	kindItems                    // an array of objects with the field's own fields
	kindNested                   // one object with the field's own fields
	kindDuration                 // a Go duration string, "90s", "24h"
)

type seedField struct {
	kind     seedKind
	required bool
	enum     []string            // allowed values of a string
	fields   seedSchema          // for kindItems and kindNested
	check    func(string) string // extra check of a string; returns the reason it is bad
}

type seedSchema map[string]seedField

var seedRoles = []string{"admin", "agent", "bot", "guest"}

// seedSchemas are the sections of a seed file and their items' fields.
var seedSchemas = map[string]seedSchema{
	"organizations": {
		"id": {kind: kindID}, "name": {kind: kindString, required: true}, "displayName": {kind: kindString},
		"email": {kind: kindString}, "parent": {kind: kindID}, "categories": {kind: kindStrings},
		"meta": {kind: kindObject},
	},
	"channels": {
		"id": {kind: kindID}, "name": {kind: kindString, required: true}, "organization": {kind: kindID},
		"users": {kind: kindIDs}, "meta": {kind: kindObject},
	},
	"users": {
		"id": {kind: kindID}, "email": {kind: kindString, required: true, check: checkEmail},
		"password": {kind: kindString}, "role": {kind: kindString, enum: seedRoles},
		"givenName": {kind: kindString}, "familyName": {kind: kindString}, "name": {kind: kindString},
		"organization": {kind: kindID}, "meta": {kind: kindObject},
	},
	"bots": {
		"id": {kind: kindID}, "name": {kind: kindString, required: true}, "email": {kind: kindString, check: checkEmail},
		"password": {kind: kindString}, "organization": {kind: kindID}, "meta": {kind: kindObject},
	},
	"tokens": {
		"name": {kind: kindString}, "user": {kind: kindID, required: true}, "ttl": {kind: kindDuration},
	},
	"conversations": {
		"organization": {kind: kindID}, "as": {kind: kindID}, "name": {kind: kindString},
		"type": {kind: kindString, enum: []string{"contact", "bot", "agent", "system"}},
		"contact": {kind: kindNested, fields: seedSchema{
			"profile": {kind: kindObject, required: true}, "meta": {kind: kindObject},
		}},
		"touchpoint": {kind: kindString}, "meta": {kind: kindObject},
		"messages": {kind: kindItems, fields: seedSchema{
			"text": {kind: kindString, required: true}, "type": {kind: kindString, enum: validMessageTypes},
			"role": {kind: kindString, enum: []string{"contact", "agent", "bot", "system"}},
			"user": {kind: kindID}, "meta": {kind: kindObject}, "touchpoint": {kind: kindString},
			"isBackchannel": {kind: kindBool}, "contentType": {kind: kindString},
			"actions": {kind: kindArray}, "items": {kind: kindArray},
		}},
	},
}

// seedSections is the order sections are listed and stored in: what an item
// refers to is stored before it.
var seedSections = []string{"organizations", "users", "bots", "channels", "conversations", "tokens"}

func checkEmail(v string) string {
	if at := strings.Index(v, "@"); at <= 0 || at == len(v)-1 {
		return "not an e-mail address"
	}
	return ""
}

// seedFileError names the field of a seed file that is wrong.
type seedFileError struct {
	path, reason string
}

func (e *seedFileError) Error() string {
	if e.path == "" {
		return "seed file: " + e.reason
	}
	return "seed file: " + e.path + ": " + e.reason
}

func seedErr(path, format string, args ...any) error {
	return &seedFileError{path: path, reason: fmt.Sprintf(format, args...)}
}

// ParseSeedFile reads a seed file (JSON; the schema is in the package doc)
// and checks all of it: unknown sections and fields, names given twice in
// one object, values of the wrong type, malformed ids, e-mail addresses,
// roles, durations and message types, and ids given twice. The error names the first field at fault, with its
// path ("users[1].email: ..."). References to other items and to the
// default seed are checked by [Server.LoadSeedFile], which stores nothing
// when one fails.
func ParseSeedFile(data []byte) (*SeedFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, seedErr("", "not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, seedErr("", "more than one JSON value")
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, seedErr("", "must be a JSON object with the sections %s", strings.Join(seedSections, ", "))
	}
	if err := checkDuplicateKeys(data); err != nil {
		return nil, err
	}
	f := &SeedFile{sections: map[string][]doc{}}
	for _, key := range sortedKeys(obj) {
		sch, known := seedSchemas[key]
		if !known {
			return nil, seedErr(key, "unknown section (known: %s)", strings.Join(seedSections, ", "))
		}
		items, ok := obj[key].([]any)
		if !ok {
			return nil, seedErr(key, "must be an array of objects")
		}
		for i, it := range items {
			path := fmt.Sprintf("%s[%d]", key, i)
			if err := checkSeedObject(path, it, sch); err != nil {
				return nil, err
			}
			d, err := normalize(it) // json.Number becomes float64
			if err != nil {
				return nil, seedErr(path, "%v", err)
			}
			f.sections[key] = append(f.sections[key], d.(map[string]any))
		}
	}
	seen := map[string]string{}
	for _, key := range seedSections {
		for i, d := range f.sections[key] {
			id := str(d, "id")
			if id == "" {
				continue
			}
			id = strings.ToLower(id)
			path := fmt.Sprintf("%s[%d].id", key, i)
			if prev, dup := seen[id]; dup {
				return nil, seedErr(path, "%s is also the id of %s", id, prev)
			}
			seen[id] = path
		}
	}
	return f, nil
}

// checkDuplicateKeys refuses a name given twice in one object of valid JSON
// data, with its path: decoding keeps only the last, so the file would load
// something other than what it says. It walks the tokens of
// encoding/json's Decoder, which reads the same on every toolchain.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkDuplicateKeys(dec, "")
}

func walkDuplicateKeys(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return seedErr(path, "not valid JSON: %v", err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return seedErr(path, "not valid JSON: %v", err)
			}
			k, _ := kt.(string)
			kp := k
			if path != "" {
				kp = path + "." + k
			}
			if seen[k] {
				return seedErr(kp, "given twice in one object (a JSON decoder keeps only the last; say it once)")
			}
			seen[k] = true
			if err := walkDuplicateKeys(dec, kp); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkDuplicateKeys(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return seedErr(path, "not valid JSON: %v", err)
	}
	return nil
}

// checkSeedObject checks one object of the file against its fields, in key
// order, so the error names the same field every time.
func checkSeedObject(path string, v any, sch seedSchema) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return seedErr(path, "must be an object")
	}
	for _, k := range sortedKeys(obj) {
		if _, known := sch[k]; !known {
			return seedErr(path+"."+k, "unknown field (known: %s)", strings.Join(sortedKeys(sch), ", "))
		}
	}
	for _, k := range sortedKeys(sch) {
		f := sch[k]
		val, present := obj[k]
		fp := path + "." + k
		if !present || val == nil {
			if f.required {
				return seedErr(fp, "required")
			}
			continue
		}
		if err := checkSeedValue(fp, val, f); err != nil {
			return err
		}
		// Ids are stored in lowercase, as the server makes them.
		switch f.kind {
		case kindID:
			obj[k] = strings.ToLower(val.(string))
		case kindIDs:
			for i, e := range val.([]any) {
				val.([]any)[i] = strings.ToLower(e.(string))
			}
		}
	}
	return nil
}

func checkSeedValue(path string, v any, f seedField) error {
	switch f.kind {
	case kindString, kindID, kindDuration:
		s, ok := v.(string)
		if !ok {
			return seedErr(path, "must be a string, not %s", jsonKind(v))
		}
		return checkSeedString(path, s, f)
	case kindIDs, kindStrings:
		a, ok := v.([]any)
		if !ok {
			return seedErr(path, "must be an array of strings, not %s", jsonKind(v))
		}
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return seedErr(fmt.Sprintf("%s[%d]", path, i), "must be a string, not %s", jsonKind(e))
			}
			if f.kind == kindIDs && !isID(s) {
				return seedErr(fmt.Sprintf("%s[%d]", path, i), "%q is not an id (24 hex characters)", s)
			}
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return seedErr(path, "must be true or false, not %s", jsonKind(v))
		}
	case kindObject:
		if _, ok := v.(map[string]any); !ok {
			return seedErr(path, "must be an object, not %s", jsonKind(v))
		}
	case kindArray:
		if _, ok := v.([]any); !ok {
			return seedErr(path, "must be an array, not %s", jsonKind(v))
		}
	case kindNested:
		return checkSeedObject(path, v, f.fields)
	case kindItems:
		a, ok := v.([]any)
		if !ok {
			return seedErr(path, "must be an array of objects, not %s", jsonKind(v))
		}
		for i, e := range a {
			if err := checkSeedObject(fmt.Sprintf("%s[%d]", path, i), e, f.fields); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkSeedString(path, s string, f seedField) error {
	switch {
	case f.kind == kindID && !isID(s):
		return seedErr(path, "%q is not an id (24 hex characters)", s)
	case f.kind == kindDuration:
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return seedErr(path, "%q is not a duration such as \"90m\" or \"24h\" (\"0s\": permanent)", s)
		}
	case f.enum != nil && !slices.Contains(f.enum, s):
		return seedErr(path, "%q is not one of %s", s, strings.Join(f.enum, ", "))
	case f.required && strings.TrimSpace(s) == "":
		return seedErr(path, "required")
	}
	if f.check != nil {
		if reason := f.check(s); reason != "" {
			return seedErr(path, "%q is %s", s, reason)
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// LoadSeedFile stores a parsed seed file in the server, all or nothing: the
// organizations, users, bots and channels with the ids the file gives (new
// ones otherwise), then the conversations, created as POST
// /v2/conversations creates them (their messages run commands, route and
// accept as usual) by the user "as" names (default the seeded bot), then the
// tokens. An item that refers to something that does not exist, an id or
// e-mail address already in use, or a conversation the API would refuse (a
// user whose role may not create one included) fails the whole file, with
// the path of the field at fault, and leaves the server as it was: its
// data, and the ids, names and secrets it would generate next. Seeded messages do not count toward the bot loop limits.
// Items without an organization belong to the seeded one. No webhook
// events are raised for what a seed file stores. Tokens are issued after
// the rest is stored.
func (s *Server) LoadSeedFile(f *SeedFile) (*SeedFileResult, error) {
	if f == nil {
		return nil, errors.New("chatshippertest: LoadSeedFile: nil seed file")
	}
	res := &SeedFileResult{Organizations: []SeededResource{}, Channels: []SeededResource{}, Users: []SeededUser{},
		Bots: []SeededUser{}, Tokens: []SeededToken{}, Conversations: []SeededResource{}}
	err := s.update(func(t *tx) error {
		t.seeding = true
		if err := s.seedItems(t, f, res); err != nil {
			return err
		}
		t.events, t.changed = nil, nil // seeding raises no webhook events
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, u := range res.Bots {
		res.Bots[i].Token = s.IssueToken(u.ID, tokenScope("bot"), 0)
	}
	for i, d := range f.sections["tokens"] {
		user := str(d, "user")
		var ttl time.Duration
		if v := str(d, "ttl"); v != "" {
			ttl, _ = time.ParseDuration(v) // checked by ParseSeedFile
		}
		s.mu.Lock()
		u, ok := s.store.get("users", user)
		_, role := userOrg(u, "")
		s.mu.Unlock()
		if !ok {
			// Checked in the transaction; a user deleted since is the caller's race.
			return res, seedErr(fmt.Sprintf("tokens[%d].user", i), "user %s not found", user)
		}
		tok := SeededToken{Name: str(d, "name"), User: user, Token: s.IssueToken(user, tokenScope(role), ttl)}
		if ttl > 0 {
			tok.ExpiresAt = formatTime(s.now().Add(ttl))
		}
		res.Tokens = append(res.Tokens, tok)
	}
	return res, nil
}

// seedItems stores the file's items inside t, in section order.
func (s *Server) seedItems(t *tx, f *SeedFile, res *SeedFileResult) error {
	for i, d := range f.sections["organizations"] {
		path := fmt.Sprintf("organizations[%d]", i)
		in := cloneDoc(d)
		if cats, ok := strs(in["categories"]); ok {
			out := make([]any, len(cats))
			for j, c := range cats {
				out[j] = map[string]any{"name": c, "forms": []any{}}
			}
			in["categories"] = out
		}
		if _, ok := in["status"]; !ok {
			in["status"] = "active"
		}
		if p := str(in, "parent"); p != "" {
			if _, ok := t.get("organizations", p); !ok {
				return seedErr(path+".parent", "organization %s not found (list a parent before its children)", p)
			}
		}
		id, err := s.seedCreate(t, path, "organizations", in, s.Seed.OrganizationID)
		if err != nil {
			return err
		}
		res.Organizations = append(res.Organizations, SeededResource{ID: id, Name: str(in, "name")})
	}
	for _, sec := range []string{"users", "bots"} {
		for i, d := range f.sections[sec] {
			path := fmt.Sprintf("%s[%d]", sec, i)
			in := cloneDoc(d)
			role := str(in, "role")
			if sec == "bots" {
				role = "bot"
				in["givenName"] = in["name"]
			}
			if role == "" {
				role = "agent"
			}
			delete(in, "role")
			org, err := seedOrg(t, path, in, s.Seed.OrganizationID)
			if err != nil {
				return err
			}
			in["organizations"] = []any{map[string]any{"organization": str(org, "id"), "orgPath": orgPathOf(org),
				"role": role, "selected": true}}
			delete(in, "organization")
			if _, ok := in["status"]; !ok {
				in["status"] = "active"
			}
			id := str(in, "id")
			if id == "" {
				id = s.newID()
			}
			in["id"] = id
			if sec == "bots" && str(in, "email") == "" {
				in["email"] = "bot+" + id + "@chatshipper.com"
			}
			if _, err := s.seedCreate(t, path, "users", in, str(org, "id")); err != nil {
				return err
			}
			u, _ := t.get("users", id)
			su := SeededUser{ID: id, Name: str(u, "name"), Email: str(u, "email"), Role: role}
			if sec == "bots" {
				bot := doc{"id": id, "name": str(d, "name"), "organization": str(org, "id"), "enabled": true, "status": "active"}
				if meta := obj(d, "meta"); meta != nil {
					bot["meta"] = cloneValue(meta)
				}
				if _, err := s.seedCreate(t, path, "bots", bot, str(org, "id")); err != nil {
					return err
				}
				res.Bots = append(res.Bots, su)
			} else {
				res.Users = append(res.Users, su)
			}
		}
	}
	for i, d := range f.sections["channels"] {
		path := fmt.Sprintf("channels[%d]", i)
		in := cloneDoc(d)
		ids, _ := strs(in["users"])
		for j, u := range ids {
			if _, ok := t.get("users", u); !ok {
				return seedErr(fmt.Sprintf("%s.users[%d]", path, j), "user %s not found", u)
			}
		}
		if in["users"] == nil {
			in["users"] = []any{}
		}
		id, err := s.seedCreate(t, path, "channels", in, s.Seed.OrganizationID)
		if err != nil {
			return err
		}
		res.Channels = append(res.Channels, SeededResource{ID: id, Name: str(in, "name")})
	}
	for i, d := range f.sections["conversations"] {
		path := fmt.Sprintf("conversations[%d]", i)
		conv, err := s.seedConversation(t, path, d)
		if err != nil {
			return err
		}
		res.Conversations = append(res.Conversations, SeededResource{ID: str(conv, "id"), Name: str(conv, "name"), Status: str(conv, "status")})
	}
	for i, d := range f.sections["tokens"] {
		if _, ok := t.get("users", str(d, "user")); !ok {
			return seedErr(fmt.Sprintf("tokens[%d].user", i), "user %s not found", str(d, "user"))
		}
	}
	return nil
}

// seedOrg resolves the organization an item names (default defOrg).
func seedOrg(t *tx, path string, in doc, defOrg string) (doc, error) {
	id := str(in, "organization")
	if id == "" {
		id = defOrg
	}
	org, ok := t.get("organizations", id)
	if !ok {
		return nil, seedErr(path+".organization", "organization %s not found", id)
	}
	return org, nil
}

// seedCreate stores one item as POST /v2/{c} would, keeping its id.
func (s *Server) seedCreate(t *tx, path, c string, in doc, defOrg string) (string, error) {
	d := cloneDoc(in)
	for _, k := range systemFields {
		delete(d, k)
	}
	id := str(in, "id")
	if id == "" {
		id = s.newID()
	} else if _, taken := t.get(c, id); taken {
		return "", seedErr(path+".id", "%s is already the id of a stored %s", id, singular(c))
	}
	d["id"] = id
	if c != "organizations" && c != "users" {
		org, err := seedOrg(t, path, d, defOrg)
		if err != nil {
			return "", err
		}
		d["organization"] = str(org, "id")
	}
	org, _ := t.get("organizations", defOrg)
	cl := &caller{userID: s.Seed.AdminUserID, role: "admin", org: defOrg, orgPath: orgPathOf(org)}
	if err := s.prepare(t, c, cl, d, nil); err != nil {
		msg := apiMessage(err)
		if strings.HasPrefix(msg, "email ") {
			path += ".email"
		}
		return "", seedErr(path, "%s", msg)
	}
	now := formatTime(t.now)
	d["createdAt"], d["updatedAt"] = now, now
	t.insert(c, d)
	return id, nil
}

// seedConversation creates a conversation of the file as its "as" user
// would with POST /v2/conversations.
func (s *Server) seedConversation(t *tx, path string, d doc) (doc, error) {
	as := str(d, "as")
	if as == "" {
		as = s.Seed.BotUserID
	}
	u, ok := t.get("users", as)
	if !ok {
		return nil, seedErr(path+".as", "user %s not found", as)
	}
	cl := &caller{userID: as}
	cl.org, cl.role = userOrg(u, "")
	cl.scope = tokenScope(cl.role)
	cl.level = scopeLevel(cl.scope)
	if o, ok := t.get("organizations", cl.org); ok {
		cl.orgPath = orgPathOf(o)
	}
	// What the API would refuse this user, the seed file refuses too.
	if err := permit(cl, opCreate, "conversations", ""); err != nil {
		return nil, seedErr(path+".as", "user %s has the role %s, which may not create conversations (POST /v2/conversations answers %d %s)",
			as, scopeForRole(cl.role), http.StatusForbidden, apiMessage(err))
	}
	in := cloneDoc(d)
	delete(in, "as")
	msgs := arr(in, "messages")
	delete(in, "messages")
	conv, _, err := s.newConversation(t, cl, in)
	if err != nil {
		return nil, seedErr(path, "%s", apiMessage(err))
	}
	for j, e := range msgs {
		if _, err := s.postMessage(t, cl, conv, e.(map[string]any)); err != nil {
			return nil, seedErr(fmt.Sprintf("%s.messages[%d]", path, j), "%s", apiMessage(err))
		}
	}
	return conv, nil
}

// apiMessage is the message an API error would answer.
func apiMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.msg
	}
	return err.Error()
}
