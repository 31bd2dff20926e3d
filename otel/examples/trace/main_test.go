package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun runs the example and checks that it printed the spans and metrics
// it is about.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"Name": "Conversations.Walk"`, `"Name": "Conversations.Send"`, `"Name": "Messages.List"`, `"Name": "POST"`,
		`"Name": "chatshipper.retry"`, `"Name": "chatshipper.delivery.lookup"`, `"Value": "found"`,
		"http.client.request.duration", "chatshipper.client.delivery.lookups", "== sent once, stored once",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s", want)
		}
	}
}
