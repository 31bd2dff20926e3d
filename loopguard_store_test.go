package chatshipper_test

import (
	"testing"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/loopguardtest"
)

func TestLoopGuardMemoryStoreContract(t *testing.T) {
	t.Parallel()
	loopguardtest.Run(t, func(*testing.T) chatshipper.LoopGuardStore { return chatshipper.NewLoopGuardMemoryStore(0) })
}
