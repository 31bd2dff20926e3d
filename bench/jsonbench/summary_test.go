package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The log testdata/rounds.txt has four rounds of one measurement: 1 and 3
// fine, 2 with node at 0.3 of a core, 4 cut off before node ran.
const roundsSummary = `== list-get
round  1  load 1.50 -> 1.70  | go1.27   200.0 p/s  4.000 ms/p 0.80 core | node    50.0 p/s 16.000 ms/p 0.80 core  accepted
round  2  load 19.80 -> 20.10  | go1.27   200.0 p/s  4.000 ms/p 0.80 core | node     5.0 p/s 60.000 ms/p 0.30 core  REFUSED (node got less than 0.5 of a core)
round  3  load 2.10 -> 2.30  | go1.27   250.0 p/s  3.000 ms/p 0.75 core | node    60.0 p/s 15.000 ms/p 0.90 core  accepted
round  4  load ? -> ?  | go1.27   250.0 p/s  3.000 ms/p 0.75 core | node missing  REFUSED (round did not finish)
rounds: 4, accepted 2, refused 2 (a contender below 0.5 of a core, or missing)
medians over accepted rounds (min-max):
  go1.27   pages/s 225.0 (200.0-250.0)  CPU per page 3.500 (3.000-4.000) ms  core 0.78 (0.75-0.80)
  node     pages/s 55.0 (50.0-60.0)  CPU per page 15.500 (15.000-16.000) ms  core 0.85 (0.80-0.90)
same-round ratios, median over accepted rounds (min-max):
  go1.27   CPU per page: node / go1.27 4.50 (4.00-5.00) x, go1.27 / node 0.23 (0.20-0.25) x; pages/s go1.27 / node 4.08 (4.00-4.17) x
refused rounds: 2 of 4
`

func TestSummaryRefusesStarvedRounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		minAccepted int
		wantTail    string
		wantErr     bool
	}{
		{name: "enough rounds left", minAccepted: 2},
		{name: "too few rounds left", minAccepted: 3, wantErr: true,
			wantTail: "FAIL: too few accepted rounds (need 3): list-get: 2 accepted of 4\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			err := summary(&out, "testdata/rounds.txt", tc.minAccepted)
			if tc.wantErr {
				require.EqualError(t, err, "too few accepted rounds")
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, roundsSummary+tc.wantTail, out.String())
		})
	}
}

func TestVerdictNamesTheStarvedContender(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, verdict(&out, "testdata/rounds.txt"))
	// verdict lists the contenders in the order they ran in each round.
	require.Equal(t, `# list-get round  1  load 1.50 -> 1.70  | go1.27   200.0 p/s  4.000 ms/p 0.80 core | node    50.0 p/s 16.000 ms/p 0.80 core  accepted
# list-get round  2  load 19.80 -> 20.10  | node     5.0 p/s 60.000 ms/p 0.30 core | go1.27   200.0 p/s  4.000 ms/p 0.80 core  REFUSED (node got less than 0.5 of a core)
# list-get round  3  load 2.10 -> 2.30  | go1.27   250.0 p/s  3.000 ms/p 0.75 core | node    60.0 p/s 15.000 ms/p 0.90 core  accepted
# list-get round  4  load ? -> ?  | go1.27   250.0 p/s  3.000 ms/p 0.75 core  REFUSED (round did not finish)
`, out.String())
}

func TestSummaryWithoutRounds(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.EqualError(t, summary(&out, "testdata/norounds.txt", 1), "summary: no rounds in testdata/norounds.txt")
}
