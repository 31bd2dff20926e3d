package chatshippertest

import "github.com/go-chatshipper/chatshipper"

// NewClient returns a [chatshipper.Client] for this server: its URL, its
// HTTP client (in-process for NewInProcessServer), the seeded bot's Token,
// and the client-side rate limiter off (chatshipper.WithRateLimit(0), see
// [chatshipper.WithRateLimit]), so a test runs as fast as the server answers. opts are applied after those
// and may override them: for another user pass
// chatshipper.WithTokenSource(chatshipper.StaticTokenSource(srv.AdminToken)).
// The client's loop guard stays on, like the server's loop limits.
//
// With the server's own limit off too, a test is one line each:
//
//	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
//	c, err := srv.NewClient()
func (s *Server) NewClient(opts ...chatshipper.Option) (*chatshipper.Client, error) {
	base := []chatshipper.Option{
		chatshipper.WithBaseURL(s.URL),
		chatshipper.WithHTTPClient(s.client),
		chatshipper.WithRateLimit(0),
	}
	return chatshipper.NewClient(s.Token, append(base, opts...)...)
}
