package chatshipper

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A "**" in a webhook's event filter is refused with an error that says
// why: the platform's filter knows "*" for one word only, "**" is a pattern
// of the webhook package's handler. A "*" inside a word keeps its own reason.
func TestWebhookEventsDoubleStarExplained(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	for _, tc := range []struct {
		name, event, want string
	}{
		{"double star", "message.**",
			`chatshipper: invalid argument webhook.events[0]: "message.**": the platform's event filter takes "*" for one whole word only; ` +
				`"**" (any number of words) is a pattern of the webhook package's Handler.Handle, not of the platform's subscription: ` +
				`leave Events empty or list each depth ("message.*", "message.*.*", ...) and match "message.**" in the handler`},
		{"double star first", "**.update",
			`chatshipper: invalid argument webhook.events[0]: "**.update": the platform's event filter takes "*" for one whole word only; ` +
				`"**" (any number of words) is a pattern of the webhook package's Handler.Handle, not of the platform's subscription: ` +
				`leave Events empty or list each depth ("*.update", "*.*.update", ...) and match "**.update" in the handler`},
		{"star in word", "mess*.create",
			`chatshipper: invalid argument webhook.events[0]: "mess*.create": "*" must be a whole word (it stands for exactly one word)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Services.CreateWebhook(context.Background(), &WebhookServiceCreate{URL: "https://hooks.example.com/in", Events: []string{tc.event}})
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.EqualError(t, err, tc.want)
			// The untyped create refuses it the same way.
			_, _, err = c.Services.Create(context.Background(), &ServiceCreate{Type: ServiceWebhook,
				Params: Meta{"url": "https://hooks.example.com/in", "events": []any{tc.event}}})
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tc.want[len("chatshipper: invalid argument webhook.events[0]"):])
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount())
}
