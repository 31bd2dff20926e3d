//go:build unix

package webhook

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used so far,
// and true where the system tells.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
