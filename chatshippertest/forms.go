package chatshippertest

import (
	"slices"
	"strings"
)

// Forms, fields and results (https://developers.web1on1.chat/messaging/formsfieldseandresults): form messages activate
// and deactivate forms in conversation.forms, field messages fill values, and
// /send moves completed forms into conversation.results.

// categoryIndex is the category a form message targets: meta.categoryIndex,
// meta.category (a name), else the conversation's active category (0 if none).
func (s *Server) categoryIndex(t *tx, conv, meta doc) (int, error) {
	if v, ok := meta["categoryIndex"]; ok {
		f, ok := v.(float64)
		if !ok || f != float64(int(f)) {
			return 0, unprocessable("meta.categoryIndex must be an integer")
		}
		return int(f), nil
	}
	if name, ok := meta["category"].(string); ok {
		i, _, err := s.resolveCategory(t, conv, name)
		return i, err
	}
	f, _ := conv["categoryIndex"].(float64)
	return int(f), nil
}

// formDef returns the form named by meta.form.
func formDef(t *tx, meta doc) (doc, error) {
	id, _ := meta["form"].(string)
	if id == "" {
		return nil, unprocessable("meta.form is required")
	}
	f, ok := t.get("forms", id)
	if !ok {
		return nil, unprocessable("Form %s not found", id)
	}
	return f, nil
}

// formMessage handles type "form": "+Name" activates, "-Name" deactivates.
func (s *Server) formMessage(t *tx, conv, m doc) error {
	text := str(m, "text")
	if !strings.HasPrefix(text, "+") && !strings.HasPrefix(text, "-") {
		return unprocessable("a form message text starts with + (activate) or - (deactivate)")
	}
	meta := obj(m, "meta")
	def, err := formDef(t, meta)
	if err != nil {
		return err
	}
	idx, err := s.categoryIndex(t, conv, meta)
	if err != nil {
		return err
	}
	formID := str(def, "id")
	org, _ := t.get("organizations", str(conv, "organization"))
	cats := arr(org, "categories")
	if idx < 0 || idx >= len(cats) {
		return unprocessable("category index %d out of range", idx)
	}
	cat, _ := cats[idx].(map[string]any)
	if !slices.Contains(arr(cat, "forms"), any(formID)) {
		return unprocessable("Form %s is not assigned to category %d", formID, idx)
	}
	forms := arr(conv, "forms")
	at := slices.IndexFunc(forms, func(e any) bool {
		f, _ := e.(map[string]any)
		ci, _ := f["categoryIndex"].(float64)
		return str(f, "form") == formID && int(ci) == idx
	})
	if text[0] == '+' && at < 0 {
		conv["forms"] = append(forms, map[string]any{"form": formID, "categoryIndex": float64(idx), "values": map[string]any{}})
	} else if text[0] == '-' && at >= 0 {
		conv["forms"] = slices.Delete(forms, at, at+1)
	}
	t.markChanged(str(conv, "id"))
	return nil
}

// fieldMessage handles type "field": meta.form + meta.key, text is the value.
// The SDK's ".key value" text form is accepted when meta.key is absent.
func (s *Server) fieldMessage(t *tx, conv, m doc) error {
	meta := obj(m, "meta")
	def, err := formDef(t, meta)
	if err != nil {
		return err
	}
	key, _ := meta["key"].(string)
	value := str(m, "text")
	if key == "" && strings.HasPrefix(value, ".") {
		key, value, _ = strings.Cut(value[1:], " ")
	}
	if key == "" {
		return unprocessable("meta.key is required")
	}
	if !slices.ContainsFunc(arr(def, "fields"), func(e any) bool {
		f, _ := e.(map[string]any)
		return str(f, "key") == key
	}) {
		return unprocessable("form %s has no field %q", str(def, "id"), key)
	}
	active, _ := conv["categoryIndex"].(float64)
	var entry map[string]any
	for _, e := range arr(conv, "forms") {
		f, _ := e.(map[string]any)
		if str(f, "form") != str(def, "id") {
			continue
		}
		if ci, _ := f["categoryIndex"].(float64); entry == nil || ci == active {
			entry = f
		}
	}
	if entry == nil {
		return unprocessable("Form %s is not active in this conversation", str(def, "id"))
	}
	values := obj(entry, "values")
	if values == nil {
		values = map[string]any{}
		entry["values"] = values
	}
	values[key] = value
	t.markChanged(str(conv, "id"))
	return nil
}

// formComplete reports whether every field of the form has a value.
func formComplete(def, values doc) bool {
	for _, e := range arr(def, "fields") {
		f, _ := e.(map[string]any)
		v, ok := values[str(f, "key")]
		if !ok || v == nil || v == "" {
			return false
		}
	}
	return true
}

// cmdSend moves completed forms (only meta.form when given) from
// conversation.forms to conversation.results and adds a "results" message.
func (s *Server) cmdSend(t *tx, conv, cmd, meta doc) error {
	only, _ := meta["form"].(string)
	if only != "" {
		if _, ok := t.get("forms", only); !ok {
			return unprocessable("Form %s not found", only)
		}
	}
	var keep, done []any
	var names []string
	for _, e := range arr(conv, "forms") {
		f, _ := e.(map[string]any)
		def, ok := t.get("forms", str(f, "form"))
		if only != "" && str(f, "form") != only || !ok || !formComplete(def, obj(f, "values")) {
			keep = append(keep, e)
			continue
		}
		done = append(done, map[string]any{"form": f["form"], "name": def["name"],
			"categoryIndex": f["categoryIndex"], "values": cloneValue(f["values"])})
		names = append(names, str(def, "name"))
	}
	if len(done) == 0 {
		if only != "" {
			return unprocessable("Form %s is not active or not complete", only)
		}
		return nil
	}
	if keep == nil {
		keep = []any{}
	}
	conv["forms"] = keep
	now := formatTime(t.now)
	id := s.newID()
	msg := doc{"id": id, "conversation": conv["id"], "organization": conv["organization"],
		"orgPath": conv["orgPath"], "type": "results", "role": cmd["role"], "user": cmd["user"],
		"text": "Results: " + strings.Join(names, ", "), "results": cloneValue(done),
		"version": float64(1), "createdAt": now, "updatedAt": now}
	t.insert("messages", msg)
	s.appendMessage(t, conv, id)
	t.emit("messages", id, "create", str(cmd, "user"))
	results := arr(conv, "results")
	for _, d := range done {
		r := d.(map[string]any)
		r["message"], r["createdAt"] = id, now
		results = append(results, r)
	}
	conv["results"] = results
	return nil
}
