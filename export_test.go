package chatshipper

// Test helpers shared with the external test package (chatshipper_test).

// RequireAtMostNPerWindow is requireAtMostNPerWindow for the external tests.
var RequireAtMostNPerWindow = requireAtMostNPerWindow

// tracked returns how many conversations the guard remembers.
func (g *loopGuard) tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.convs)
}
