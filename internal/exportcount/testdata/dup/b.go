package dup

// F is declared twice: here for every build.
func F() {}
