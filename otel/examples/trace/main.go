// Command trace shows what the SDK decides, as OpenTelemetry spans printed by
// the stdout exporter: a walk over conversations (one span for the walk, one
// child span per page request), then a send whose answer is lost after the
// server stored the message (the send's span with its attempt, the decision
// not to send the POST again blindly, and the delivery lookup that finds the
// message: a "Messages.List" span inside the send). The metrics follow.
//
// It runs offline against the embedded fake ChatShipper server, which can
// drop an answer on purpose.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	csotel "github.com/go-chatshipper/chatshipper/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run(w io.Writer) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Spans go to w as they end; metrics once, at the end.
	spans, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer func() {
		if serr := tp.Shutdown(context.Background()); err == nil {
			err = serr
		}
	}()
	metrics, err := stdoutmetric.New(stdoutmetric.WithWriter(w), stdoutmetric.WithPrettyPrint())
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)))
	obs, err := csotel.New(csotel.WithTracerProvider(tp), csotel.WithMeterProvider(mp),
		csotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		return err
	}

	say := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	say("Using the embedded fake ChatShipper server at %s\n", srv.URL)
	// A client without the observer sets the stage, so only the walk and
	// the send are printed.
	setup, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	if err != nil {
		return err
	}
	var conv *chatshipper.Conversation
	for i := range 3 {
		if conv, _, err = setup.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprint("Traced ", i+1)}); err != nil {
			return fmt.Errorf("creating a conversation: %w", err)
		}
	}

	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithObserver(obs),
		chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second))
	if err != nil {
		return err
	}

	say("\n== A walk over the conversations, two per page\n")
	n := 0
	for _, err := range c.Conversations.Walk(ctx, chatshipper.NewQuery().Limit(2)).Items() {
		if err != nil {
			return fmt.Errorf("walking: %w", err)
		}
		n++
	}
	say("== walked %d conversations\n", n)

	say("\n== A send whose answer is lost after the server stored the message\n")
	srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID + "/messages",
		Count: 1, Drop: chatshippertest.DropAfter})
	msgs, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("Hello, traced world"))
	if err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	say("== sent once, stored once: message %s\n", msgs[0].ID)

	say("\n== Metrics\n")
	return mp.Shutdown(ctx)
}
