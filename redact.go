package chatshipper

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// printRedacted writes s, a value's redacted description, for any fmt verb,
// so that no verb (%d, %x, %#v ...) falls through to the value's fields.
func printRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// Format makes every verb print String, so the password never shows.
func (u UserCreate) Format(f fmt.State, verb rune) { printRedacted(f, verb, u.String()) }

// Format makes every verb print String, so the password never shows.
func (u UserUpdate) Format(f fmt.State, verb rune) { printRedacted(f, verb, u.String()) }

// Format makes every verb print String, so a webhook secret in Params never shows.
func (s ServiceCreate) Format(f fmt.State, verb rune) { printRedacted(f, verb, s.String()) }

// Format makes every verb print String, so a webhook secret in Params never shows.
func (u ServiceUpdate) Format(f fmt.State, verb rune) { printRedacted(f, verb, u.String()) }

// Format makes every verb print String, so a webhook secret in Params never shows.
func (s Service) Format(f fmt.State, verb rune) { printRedacted(f, verb, s.String()) }

// Format makes every verb print String, so the secret never shows.
func (p WebhookParams) Format(f fmt.State, verb rune) { printRedacted(f, verb, p.String()) }

// Format makes every verb print String, so the secret never shows.
func (w WebhookServiceCreate) Format(f fmt.State, verb rune) { printRedacted(f, verb, w.String()) }

// String names the document's ID and fields without their values: a
// document of any collection may hold a secret (a webhook service's
// params.secret, a user's password), so values are read with Raw or Get.
func (d Document) String() string {
	names := d.Fields()
	return "Document{id: " + d.ID() + ", fields: [" + strings.Join(names, " ") + "]}"
}

// Format makes every verb print String.
func (d Document) Format(f fmt.State, verb rune) { printRedacted(f, verb, d.String()) }

// LogValue logs the ID and the field names only.
func (d Document) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID()), slog.Any("fields", d.Fields()))
}
