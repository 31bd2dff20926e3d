package chatshipper

import (
	"fmt"
	"io"
	"strconv"
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
