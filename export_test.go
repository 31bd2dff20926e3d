package chatshipper

// Test helpers shared with the external test package (chatshipper_test).

// RequireAtMostNPerWindow is requireAtMostNPerWindow for the external tests.
var RequireAtMostNPerWindow = requireAtMostNPerWindow

// HostWindows returns an option that makes clients take their window shared
// per API host from a registry of their own, shared by every client given the
// same returned option: the sharing of the clients of one process (by origin
// and transport), inside a testing/synctest bubble too, where each client
// would otherwise have a window of its own.
func HostWindows() Option { return withWindows(new(windowRegistry)) }
