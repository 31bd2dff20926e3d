package replay

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// seedCollections are the collections of the API whose documents Seed loads.
var seedCollections = map[string]bool{
	"conversations": true, "messages": true, "contacts": true, "users": true, "organizations": true,
	"orggroups": true, "channels": true, "services": true, "forms": true, "workflows": true, "bots": true,
	"botinstances": true, "kbases": true, "kbitems": true, "articles": true, "files": true, "locations": true,
	"watemplates": true, "metrics": true, "points": true, "partners": true, "tests": true, "testresults": true,
	"links": true,
}

var objectID = regexp.MustCompile(`^[0-9a-fA-F]{24}$`)

// Seed loads into srv, with [chatshippertest.Server.Put], the documents of
// the successful responses recorded in dir, so a test can start the stateful
// fake from a real account's shapes. It reads the answers to GET, POST, PUT
// and PATCH on /v2/<collection> (a list or one document) and
// /v2/<collection>/<id>; a later answer about a document replaces an earlier
// one and a recorded DELETE removes it. Answers to requests with select or
// populate are skipped, since they hold partial or expanded documents.
// Documents are stored verbatim (scrubbed values stay [Redacted]), with
// [RecordedOrigin] replaced by srv's origin. Seed returns how many documents
// it stored.
func Seed(srv *chatshippertest.Server, dir string) (int, error) {
	fx, err := loadFixtures(dir)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	type key struct{ coll, id string }
	docs := map[key]map[string]any{}
	var order []key
	keep := func(coll string, v any) {
		d, ok := v.(map[string]any)
		if !ok {
			return
		}
		id, _ := d["id"].(string)
		if !objectID.MatchString(id) {
			return
		}
		k := key{coll, id}
		if _, seen := docs[k]; !seen {
			order = append(order, k)
		}
		docs[k] = d
	}
	for _, f := range fx {
		req, resp := f.ex.Request, f.ex.Response
		if resp.Status < 200 || resp.Status > 299 || req.Query.Has("select") || req.Query.Has("populate") {
			continue
		}
		parts := strings.Split(strings.Trim(req.Path, "/"), "/")
		if len(parts) > 0 && parts[0] == "v2" {
			parts = parts[1:]
		}
		if len(parts) == 0 || len(parts) > 2 || !seedCollections[parts[0]] {
			continue
		}
		coll := parts[0]
		switch req.Method {
		case http.MethodDelete:
			if len(parts) == 2 {
				delete(docs, key{coll, parts[1]})
			}
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch:
			if list, ok := resp.Body.([]any); ok {
				for _, d := range list {
					keep(coll, d)
				}
			} else {
				keep(coll, resp.Body)
			}
		}
	}
	origin := strings.TrimSuffix(srv.URL, "/")
	origin = strings.TrimSuffix(origin, "/v2")
	n := 0
	for _, k := range order {
		d, ok := docs[k]
		if !ok {
			continue
		}
		d = mapStrings(d, func(s string) string { return strings.ReplaceAll(s, RecordedOrigin, origin) }).(map[string]any)
		if err := put(srv, k.coll, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// put calls srv.Put, turning its panic on a document it refuses into an error.
func put(srv *chatshippertest.Server, coll string, d map[string]any) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("replay: Seed: %v", v)
		}
	}()
	srv.Put(coll, d)
	return nil
}
