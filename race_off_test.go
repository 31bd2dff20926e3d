//go:build !race

package chatshipper_test

// raceEnabled is true under the race detector, which makes the long
// randomized tests run fewer cases.
const raceEnabled = false
