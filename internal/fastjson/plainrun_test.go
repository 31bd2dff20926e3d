package fastjson

import (
	"math/rand/v2"
	"testing"
)

// plainRunBytewise is plainRun one byte at a time, for comparison.
func plainRunBytewise(b []byte, j int) int {
	for j < len(b) && plainByte[b[j]] {
		j++
	}
	return j
}

// TestPlainRun compares the word-at-a-time scan with the byte table on every
// byte value at every position of a word, with and without a stop before it,
// and on random inputs.
func TestPlainRun(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		for pos := range 20 {
			for _, before := range []byte{'a', 0x1f, '"', 0x80} {
				b := []byte("abcdefghijklmnopqrst")[:20]
				b = append([]byte(nil), b...)
				b[pos] = byte(c)
				if pos > 0 && pos%3 == 0 {
					b[pos-1] = before
				}
				for j := range len(b) + 1 {
					if got, want := plainRun(b, j), plainRunBytewise(b, j); got != want {
						t.Fatalf("%q from %d: %d, want %d", b, j, got, want)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab \"\\\x00\x1f\x20\x7f\x80\xff/u")
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		j := rng.IntN(len(b) + 1)
		if got, want := plainRun(b, j), plainRunBytewise(b, j); got != want {
			t.Fatalf("%q from %d: %d, want %d", b, j, got, want)
		}
	}
}
