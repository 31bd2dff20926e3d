package chatshippertest

// Phase-1 placeholder: webhook delivery is added later.

type webhookEvent struct{}

type webhookDispatcher struct{ s *Server }

func newWebhookDispatcher(s *Server) *webhookDispatcher { return &webhookDispatcher{s: s} }

func (d *webhookDispatcher) enqueue([]webhookEvent) {}

func (d *webhookDispatcher) close() {}

func (s *Server) buildEvents(*tx) []webhookEvent { return nil }

func (s *Server) preverify(string, string, doc) (bool, error) { return false, nil }

func (s *Server) prepareWebhook(*tx, doc, doc) error { return nil }
