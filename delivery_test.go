package chatshipper

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// stripDeliveryKeys returns a request body without the delivery keys the
// client adds (and without a meta left empty by that), so tests of the wire
// format compare the body the caller built.
func stripDeliveryKeys(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				strip(e)
			}
		case map[string]any:
			if meta, ok := x["meta"].(map[string]any); ok {
				delete(meta, DeliveryKeyMeta)
				if len(meta) == 0 {
					delete(x, "meta")
				}
			}
			if msgs, ok := x["messages"].([]any); ok {
				strip(msgs)
			}
		}
	}
	strip(v)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}
