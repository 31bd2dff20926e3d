//go:build linux

package otel_test

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time the process has used: client and server run in
// it, one call at a time, so its growth over a call is that call's CPU time,
// whatever else the machine runs.
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
