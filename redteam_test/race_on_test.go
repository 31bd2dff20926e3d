//go:build race

package redteam_test

// raceEnabled: allocation counts are not exact under the race detector.
const raceEnabled = true
