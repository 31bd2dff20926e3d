package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// minShare is the least share of a core (CPU seconds / wall seconds) a
// contender must get in a round for the round to count. Each contender is one
// single-threaded busy loop (the Go ones use more threads only for the
// garbage collector), so less than half a core means the machine starved it
// and its pages/s and the same-round ratios measure the machine, not the code.
const minShare = 0.5

// result is the line a contender prints for a loop (jsonbench list and
// decode, bench/node/list.js and parse.js); bench/run.sh adds Bench, Round and
// Contender.
type result struct {
	Bench      string  `json:"bench,omitempty"`
	Round      int     `json:"round,omitempty"`
	Contender  string  `json:"contender,omitempty"`
	Who        string  `json:"who"`
	What       string  `json:"what"`
	Read       string  `json:"read,omitempty"`
	Ops        int     `json:"ops"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpuSeconds"`
	OpsPerSec  float64 `json:"opsPerSec"`
	CPUMsPerOp float64 `json:"cpuMsPerOp"`
	CPUShare   float64 `json:"cpuShare"`
}

// roundLine is the line bench/run.sh prints after each round.
type roundLine struct {
	Bench      string `json:"bench"`
	Round      int    `json:"round"`
	Event      string `json:"event"`
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
	Order      string `json:"order"`
}

type round struct {
	n           int
	load        roundLine
	results     map[string]result // by contender
	starved     []string          // contenders below minShare
	ended       bool              // the round line was seen
	contenderOf []string          // in the order they ran
}

func (r *round) refused() bool { return len(r.starved) > 0 || !r.ended }

type benchRounds struct {
	name       string
	contenders []string // in the order first seen
	rounds     []*round
}

// readLog reads the JSON lines of a bench/run.sh log (other lines are
// ignored) and groups them by measurement and round.
func readLog(path string) ([]*benchRounds, error) {
	f, err := os.Open(path) //nolint:gosec // the log named on the command line
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var benches []*benchRounds
	byName := map[string]*benchRounds{}
	get := func(bench string, n int) *round {
		b := byName[bench]
		if b == nil {
			b = &benchRounds{name: bench}
			byName[bench] = b
			benches = append(benches, b)
		}
		for _, r := range b.rounds {
			if r.n == n {
				return r
			}
		}
		r := &round{n: n, results: map[string]result{}}
		b.rounds = append(b.rounds, r)
		return r
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var probe struct {
			Bench string `json:"bench"`
			Event string `json:"event"`
		}
		if json.Unmarshal([]byte(line), &probe) != nil || probe.Bench == "" {
			continue // a line of another part of the run (the webhook load)
		}
		if probe.Event == "round" {
			var rl roundLine
			if err := json.Unmarshal([]byte(line), &rl); err != nil {
				return nil, fmt.Errorf("%s: %w", line, err)
			}
			r := get(rl.Bench, rl.Round)
			r.load, r.ended = rl, true
			continue
		}
		var res result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("%s: %w", line, err)
		}
		r := get(res.Bench, res.Round)
		r.results[res.Contender] = res
		r.contenderOf = append(r.contenderOf, res.Contender)
		b := byName[res.Bench]
		if !slices.Contains(b.contenders, res.Contender) {
			b.contenders = append(b.contenders, res.Contender)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, b := range benches {
		for _, r := range b.rounds {
			for _, c := range b.contenders {
				res, ok := r.results[c]
				if !ok || res.Seconds <= 0 || res.Ops == 0 || res.CPUSeconds/res.Seconds < minShare {
					r.starved = append(r.starved, c)
				}
			}
		}
	}
	return benches, nil
}

func (r *round) describe(contenders []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "round %2d  load %s -> %s ", r.n, firstField(r.load.LoadBefore), firstField(r.load.LoadAfter))
	for _, c := range contenders {
		res, ok := r.results[c]
		if !ok {
			fmt.Fprintf(&b, " | %s missing", c)
			continue
		}
		fmt.Fprintf(&b, " | %s %7.1f p/s %6.3f ms/p %4.2f core", c, res.OpsPerSec, res.CPUMsPerOp, res.CPUShare)
	}
	switch {
	case !r.ended:
		b.WriteString("  REFUSED (round did not finish)")
	case len(r.starved) > 0:
		fmt.Fprintf(&b, "  REFUSED (%s got less than %.1f of a core)", strings.Join(r.starved, ", "), minShare)
	default:
		b.WriteString("  accepted")
	}
	return b.String()
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// verdict prints whether the last round in file (one round's lines) is
// accepted.
func verdict(w io.Writer, file string) error {
	benches, err := readLog(file)
	if err != nil {
		return err
	}
	var out strings.Builder
	for _, b := range benches {
		for _, r := range b.rounds {
			fmt.Fprintf(&out, "# %s %s\n", b.name, r.describe(r.contenderOf))
		}
	}
	_, err = io.WriteString(w, out.String())
	return err
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf(format+" (%s-%s)", median(xs), fmt.Sprintf(format, slices.Min(xs)), fmt.Sprintf(format, slices.Max(xs)))
}

// summary prints, per measurement, every round with its load average and
// verdict, then medians over the accepted rounds and the same-round ratios
// against the Node contender. It fails when a measurement keeps fewer than
// minAccepted rounds.
func summary(w io.Writer, file string, minAccepted int) error {
	var out strings.Builder
	err := summarize(&out, file, minAccepted)
	if _, werr := io.WriteString(w, out.String()); werr != nil && err == nil {
		err = werr
	}
	return err
}

func summarize(w *strings.Builder, file string, minAccepted int) error {
	benches, err := readLog(file)
	if err != nil {
		return err
	}
	if len(benches) == 0 {
		return errors.New("summary: no rounds in " + file)
	}
	var short []string
	totalRefused, total := 0, 0
	for _, b := range benches {
		fmt.Fprintf(w, "== %s\n", b.name)
		var accepted []*round
		for _, r := range b.rounds {
			fmt.Fprintln(w, r.describe(b.contenders))
			if !r.refused() {
				accepted = append(accepted, r)
			}
		}
		refused := len(b.rounds) - len(accepted)
		totalRefused += refused
		total += len(b.rounds)
		fmt.Fprintf(w, "rounds: %d, accepted %d, refused %d (a contender below %.1f of a core, or missing)\n",
			len(b.rounds), len(accepted), refused, minShare)
		if len(accepted) < minAccepted {
			short = append(short, fmt.Sprintf("%s: %d accepted of %d", b.name, len(accepted), len(b.rounds)))
		}
		if len(accepted) == 0 {
			continue
		}
		fmt.Fprintln(w, "medians over accepted rounds (min-max):")
		for _, c := range b.contenders {
			var pps, ms, share []float64
			for _, r := range accepted {
				res := r.results[c]
				pps, ms, share = append(pps, res.OpsPerSec), append(ms, res.CPUMsPerOp), append(share, res.CPUShare)
			}
			fmt.Fprintf(w, "  %-8s pages/s %s  CPU per page %s ms  core %s\n", c,
				spread(pps, "%.1f"), spread(ms, "%.3f"), spread(share, "%.2f"))
		}
		const ref = "node"
		if !slices.Contains(b.contenders, ref) {
			continue
		}
		fmt.Fprintln(w, "same-round ratios, median over accepted rounds (min-max):")
		for _, c := range b.contenders {
			if c == ref {
				continue
			}
			var cpuRefOverC, cpuCOverRef, ppsCOverRef []float64
			for _, r := range accepted {
				g, n := r.results[c], r.results[ref]
				cpuRefOverC = append(cpuRefOverC, n.CPUMsPerOp/g.CPUMsPerOp)
				cpuCOverRef = append(cpuCOverRef, g.CPUMsPerOp/n.CPUMsPerOp)
				ppsCOverRef = append(ppsCOverRef, g.OpsPerSec/n.OpsPerSec)
			}
			fmt.Fprintf(w, "  %-8s CPU per page: node / %s %s x, %s / node %s x; pages/s %s / node %s x\n", c,
				c, spread(cpuRefOverC, "%.2f"), c, spread(cpuCOverRef, "%.2f"), c, spread(ppsCOverRef, "%.2f"))
		}
	}
	fmt.Fprintf(w, "refused rounds: %d of %d\n", totalRefused, total)
	if len(short) > 0 {
		fmt.Fprintf(w, "FAIL: too few accepted rounds (need %d): %s\n", minAccepted, strings.Join(short, "; "))
		return errors.New("too few accepted rounds")
	}
	return nil
}
