// Package setup holds what every example shares: choosing between a real
// ChatShipper account and the embedded fake server, and failing readably.
package setup

import (
	"fmt"
	"os"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// Env is where an example runs.
type Env struct {
	// Client talks to the chosen server.
	Client *chatshipper.Client
	// Fake is the embedded fake server, or nil when talking to a real account.
	Fake *chatshippertest.Server
}

// Connect returns a client for CHATSHIPPER_TOKEN (and the optional
// CHATSHIPPER_BASE_URL); without a token it starts the embedded fake server
// and says so in one line. Close the Env when done.
func Connect(opts ...chatshipper.Option) (*Env, error) {
	token := os.Getenv("CHATSHIPPER_TOKEN")
	if token != "" {
		if base := os.Getenv("CHATSHIPPER_BASE_URL"); base != "" {
			opts = append([]chatshipper.Option{chatshipper.WithBaseURL(base)}, opts...)
		}
		c, err := chatshipper.NewClient(token, opts...)
		if err != nil {
			return nil, err
		}
		return &Env{Client: c}, nil
	}
	srv := chatshippertest.NewServer(nil)
	fmt.Printf("No CHATSHIPPER_TOKEN set: using the embedded fake ChatShipper server at %s\n", srv.URL)
	c, err := chatshipper.NewClient(srv.Token, append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL)}, opts...)...)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &Env{Client: c, Fake: srv}, nil
}

// Close stops the fake server, if one was started.
func (e *Env) Close() {
	if e != nil && e.Fake != nil {
		e.Fake.Close()
	}
}
