package chatshippertest

import (
	"fmt"
	"strings"
)

// Direct state access for tests: documents go in and come out as decoded
// JSON (map[string]any with float64 numbers), always as copies.

// Get returns a copy of the document id of collection ("conversations",
// "messages", ...), and whether it exists.
func (s *Server) Get(collection, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !isCollection(collection) {
		return nil, false
	}
	d, ok := s.store.get(collection, id)
	return cloneDoc(d), ok
}

// List returns copies of every document of collection, ordered by id.
func (s *Server) List(collection string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !isCollection(collection) {
		return nil
	}
	all := s.store.all(collection)
	out := make([]map[string]any, len(all))
	for i, d := range all {
		out[i] = cloneDoc(d)
	}
	return out
}

// Put inserts or replaces a document exactly as given (no timestamps or
// defaults are added) and returns its id, generating one when doc has no
// "id". Values are normalized through JSON, so Go ints become float64. A
// "password" of a users document becomes that user's login and is not stored.
// Put sends no webhook events. It panics on an unknown collection, an id that
// is not 24 hex characters, or a value JSON cannot encode: all test bugs.
func (s *Server) Put(collection string, doc map[string]any) string {
	if !isCollection(collection) {
		panic(fmt.Sprintf("chatshippertest: Put: unknown collection %q", collection))
	}
	v, err := normalize(doc)
	if err != nil {
		panic(fmt.Sprintf("chatshippertest: Put: %v", err))
	}
	d, ok := v.(map[string]any)
	if !ok {
		panic("chatshippertest: Put: nil document")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, hasID := d["id"].(string)
	if !hasID {
		id = s.newID()
		d["id"] = id
	} else if !isID(id) {
		panic(fmt.Sprintf("chatshippertest: Put: id %q is not 24 hex characters", id))
	}
	if pw, ok := d["password"].(string); ok && collection == "users" {
		delete(d, "password")
		if email := str(d, "email"); email != "" {
			s.creds[strings.ToLower(email)] = credential{userID: id, password: pw}
		}
	}
	s.store.colls[collection][id] = d
	return id
}
