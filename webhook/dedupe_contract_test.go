package webhook_test

import (
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper/webhook"
	"github.com/go-chatshipper/chatshipper/webhook/dedupetest"
)

// The in-memory Deduper keeps the contract every Deduper must keep.
func TestMemoryDeduperContract(t *testing.T) {
	t.Parallel()
	dedupetest.Run(t, func(t *testing.T) webhook.Deduper {
		d, err := webhook.NewMemoryDeduper(100, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
