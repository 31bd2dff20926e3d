//go:build go1.99

package dup

// F is declared twice under the same constraint.
func F() {}
