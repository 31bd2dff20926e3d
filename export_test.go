package chatshipper

// Test helpers shared with the external test package (chatshipper_test).

// RequireAtMostNPerWindow is requireAtMostNPerWindow for the external tests.
var RequireAtMostNPerWindow = requireAtMostNPerWindow
