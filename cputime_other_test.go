//go:build !unix

package chatshipper

import "time"

// processCPU reports false: the CPU time is read only on Unix systems.
func processCPU() (time.Duration, bool) { return 0, false }
