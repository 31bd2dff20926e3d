//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exitGuard bounds every wait for the process, so a hang fails the test
// instead of stalling it; the assertions are on exit status, not on time.
const exitGuard = 10 * time.Second

// TestCommand builds the command and runs it as a user would.
func TestCommand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "chatshipper-fake")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	t.Run("serves the seed file, answers GET /v2/conversations, exits 0 on SIGTERM", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, "-json", "-seed-file", "testdata/seed.json", "-addr", "127.0.0.1:0", "-shutdown-grace", "100ms")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })

		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err, "stderr: %s", stderr.String())
		var in info
		require.NoError(t, json.Unmarshal([]byte(line), &in), line)
		assert.Regexp(t, `^http://127\.0\.0\.1:[0-9]+/v2/$`, in.URL)
		assert.Equal(t, strings.TrimSuffix(in.URL, "/v2/")+"/_fake/", in.Control)
		require.NotNil(t, in.SeedFile)
		require.Len(t, in.SeedFile.Tokens, 1)
		require.Len(t, in.SeedFile.Bots, 1)

		get := func(token, path string) (int, []map[string]any) {
			req, err := http.NewRequest(http.MethodGet, in.URL+path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer func() { _ = resp.Body.Close() }()
			var list []map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&list)
			return resp.StatusCode, list
		}
		status, convs := get(in.Tokens["bot"], "conversations?sort=name")
		require.Equal(t, http.StatusOK, status)
		var names []any
		for _, c := range convs {
			names = append(names, c["name"])
		}
		assert.Equal(t, []any{"Team review", "Test drive"}, names)
		status, convs = get(in.SeedFile.Tokens[0].Token, "conversations?name=Test%20drive")
		assert.Equal(t, http.StatusOK, status, "the seed file's token is served")
		require.Len(t, convs, 1)
		assert.Equal(t, "queued", convs[0]["status"])
		status, _ = get(in.SeedFile.Bots[0].Token, "conversations")
		assert.Equal(t, http.StatusOK, status, "the seeded bot's token is served")

		// A webhook whose challenge hangs and a long poll waiting for it:
		// neither may hold up the shutdown.
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		t.Cleanup(hang.Close)
		body := strings.NewReader(`{"name":"hangs","type":"webhook","params":{"url":"` + hang.URL + `"}}`)
		req, err := http.NewRequest(http.MethodPost, in.URL+"services", body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+in.Tokens["admin"])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		polled := make(chan int, 1)
		go func() {
			resp, err := http.Post(in.Control+"deliveries/wait?timeout=60s", "application/json", nil)
			if err != nil {
				polled <- 0
				return
			}
			_ = resp.Body.Close()
			polled <- resp.StatusCode
		}()
		// A request held by a Delay fault beyond the shutdown grace: once
		// the grace is over it is dropped, never answered (an empty 200
		// would tell the client it was served).
		fault, err := http.Post(in.Control+"faults", "application/json", strings.NewReader(`{"delay":"30s","count":1}`))
		require.NoError(t, err)
		_ = fault.Body.Close()
		require.Equal(t, http.StatusCreated, fault.StatusCode)
		held := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, in.URL+"users", nil)
			req.Header.Set("Authorization", "Bearer "+in.Tokens["bot"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				held <- nil // no answer: what the fault promises
				return
			}
			_ = resp.Body.Close()
			held <- errors.New("answered " + resp.Status)
		}()
		time.Sleep(100 * time.Millisecond) // let the poll and the request begin; the outcome does not depend on it

		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-done:
			assert.NoError(t, err, "exit status 0; stderr: %s", stderr.String())
		case <-time.After(exitGuard):
			t.Fatalf("still running %s after SIGTERM", exitGuard)
		}
		select {
		case <-polled:
		case <-time.After(exitGuard):
			t.Fatal("the long poll did not end with the server")
		}
		select {
		case err := <-held:
			assert.NoError(t, err, "the held request gets no answer")
		case <-time.After(exitGuard):
			t.Fatal("the held request did not end with the server")
		}
	})

	// At SIGTERM a request held by a Delay fault gets the shutdown grace to
	// finish; a second SIGTERM ends the grace at once.
	t.Run("SIGTERM lets a held request finish; a second one ends the grace", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, grace, delay string
			signals            int
			answered           bool
		}{
			{"answered within the grace", "1m", "300ms", 1, true},
			{"dropped at the second signal", "1m", "1m", 2, false},
		} {
			cmd := exec.Command(bin, "-json", "-rate-limit", "0", "-shutdown-grace", tc.grace)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err, "stderr: %s", stderr.String())
			var in info
			require.NoError(t, json.Unmarshal([]byte(line), &in), line)
			fault, err := http.Post(in.Control+"faults", "application/json", strings.NewReader(`{"delay":"`+tc.delay+`","count":1}`))
			require.NoError(t, err)
			_ = fault.Body.Close()
			held := make(chan int, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodGet, in.URL+"users", nil)
				req.Header.Set("Authorization", "Bearer "+in.Tokens["bot"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					held <- 0
					return
				}
				_ = resp.Body.Close()
				held <- resp.StatusCode
			}()
			for { // in flight once recorded
				resp, err := http.Get(in.Control + "requests")
				require.NoError(t, err)
				var rec struct{ Count int }
				_ = json.NewDecoder(resp.Body).Decode(&rec)
				_ = resp.Body.Close()
				if rec.Count == 1 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			for range tc.signals {
				require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
				time.Sleep(50 * time.Millisecond) // the second signal must come after the first; the outcome does not depend on it
			}
			assert.NoError(t, waitGuarded(t, cmd), "%s: exit status 0; stderr: %s", tc.name, stderr.String())
			select {
			case status := <-held:
				if tc.answered {
					assert.Equal(t, http.StatusOK, status, tc.name)
				} else {
					assert.Equal(t, 0, status, "%s: no answer", tc.name)
				}
			case <-time.After(exitGuard):
				t.Fatalf("%s: the held request did not end with the server", tc.name)
			}
		}
	})

	t.Run("exits 0 on SIGINT", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, "-json")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		_, err = bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err)
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		assert.NoError(t, waitGuarded(t, cmd))
	})

	refusals := []struct {
		name, file string
		want       []string
	}{
		{"a bad field", "testdata/bad-field.json", []string{"testdata/bad-field.json", "users[1].emial: unknown field"}},
		{"a bad reference", "testdata/bad-reference.json",
			[]string{"testdata/bad-reference.json", "conversations[1].as: user 5f0000000000000000000fff not found"}},
		{"a missing file", "testdata/nothing-here.json", []string{"nothing-here.json"}},
	}
	for _, tc := range refusals {
		t.Run("refuses "+tc.name+" at start, never serving", func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, "-json", "-seed-file", tc.file)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			err := waitGuarded(t, cmd)
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "exit status 1, got %v", err)
			assert.Equal(t, 1, exit.ExitCode())
			for _, w := range tc.want {
				assert.Contains(t, stderr.String(), w)
			}
			assert.Empty(t, stdout.String(), "nothing printed: the server never started")
		})
	}

	t.Run("bad flags: exit status 2", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, "-rate-limit", "many")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		require.NoError(t, cmd.Start())
		err := waitGuarded(t, cmd)
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "got %v", err)
		assert.Equal(t, 2, exit.ExitCode())
	})
}

// syncBuffer is a bytes.Buffer the process's output copier and the test can
// use at the same time.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitGuarded(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(exitGuard):
		t.Fatalf("still running after %s", exitGuard)
		return nil
	}
}
