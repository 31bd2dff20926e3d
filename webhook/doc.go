// Package webhook receives ChatShipper (Web1on1) webhooks: the server side of
// the wire, next to the API client in package chatshipper.
//
// A webhook is a service of type "webhook" (create it with
// [chatshipper.ServicesService.CreateWebhook]); the platform then sends every
// event it subscribes to as a signed POST to its URL. See
// https://developers.web1on1.chat/webhooks/subscribing .
//
// # The handler
//
// [Handler] is the [http.Handler] for a webhook URL:
//
//	h, err := webhook.NewHandler(
//		webhook.WithSecret(os.Getenv("CHATSHIPPER_WEBHOOK_SECRET")),
//		webhook.WithClient(c), // a *chatshipper.Client: own messages skipped, replies feed its loop guard
//	)
//	if err != nil {
//		return err
//	}
//	err = h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
//		_, _, err := c.Conversations.Send(ctx, e.ConversationID(), chatshipper.Chat("Hi!").WithRole(chatshipper.RoleAgent))
//		return err // an error answers 500, so the platform retries
//	}, webhook.OnTextFold("hello"))
//	http.Handle("/webhook", h)
//
// It answers the subscription check (GET ?type=subscribe&challenge=X with X
// as plain text), caps POST bodies ([DefaultMaxBody] unless [WithMaxBody];
// 413 beyond), and with a secret set ([WithSecret]) checks the
// X-Hub-Signature header, "sha1=" and the hex HMAC-SHA1 of the raw body, in
// constant time before any parsing: a missing or wrong signature answers 401
// and no handler runs (https://developers.web1on1.chat/webhooks/verification).
// Without a secret nothing is verified, so anyone who knows the URL can post
// events; always set one in production. Malformed JSON answers 400.
//
// # Events, patterns and filters
//
// Deliveries are decoded into a typed [Event] (ID, Name, Timestamp,
// Organization, Activity, Data with the typed [chatshipper.Conversation] and
// [chatshipper.Message], Links, and Raw; the payloads are described at
// https://developers.web1on1.chat/webhooks/payloads ) and dispatched to every
// handler whose pattern matches, in registration order: "*" matches exactly
// one dot-separated word and "**" any number of words
// ("message.create.contact.*", "message.**", "*.update"). Handlers may add
// filters: [MessageRole], [MessageTypes], [ConversationTypes], [MetaEquals],
// [ConversationMetaEquals], the text triggers [OnText], [OnTextFold] and
// [OnTextMatch] for chat and postback messages, and any [FilterFunc]. For
// message events Data.Resources is nil; [Event.Resource] reads any other data
// key from Raw.
//
// Message events are decoded in a single pass. Before Go 1.27 the package
// has its own decoder for them; it is strict: wherever its reading could
// differ from encoding/json's (a duplicate key, a key in another letter case,
// a value of the wrong type, anything invalid) it hands the body to
// encoding/json, so the Event, and the error for a bad body, are always what
// encoding/json makes of it. From Go 1.27 encoding/json/v2 decodes them as
// fast, and that decoder is not built. Every string in an Event is its own
// copy, as with encoding/json.
//
// # Answers, retries and duplicates
//
// A handler error (or panic, as [*PanicError]) answers 500 so the platform
// retries; success answers 200 with an empty body
// (https://developers.web1on1.chat/webhooks/responding/ ). The platform
// retries for up to 24 hours, so the handler remembers recent event IDs and
// runs each event once; an event whose handler failed is forgotten, so its
// retry runs again. The memory is a [Deduper]: by default an in-memory
// [MemoryDeduper] of [DefaultDedupe] IDs kept for [DedupeTTL] ([WithDedupe]
// sizes it, 0 turns it off); replicas behind one URL share one with
// [WithDeduper], for instance on Redis, and a store that cannot answer makes
// the delivery answer 503. Begin hands each delivery its own claim
// ([DedupeClaim], with a token) and Finish settles only that claim, so a
// delivery that outlived a shared store's lease cannot settle the claim of
// the retry that took the ID over; package dedupetest checks a store against
// the contract. [WithAsync] acknowledges at once and processes in
// the background with a bounded queue (503 when full, so the platform
// retries), since the platform gives up waiting after 20 seconds.
// [Handler.Shutdown] drains every acknowledged event.
//
// # Bots
//
// Bots must not answer themselves: by default message.create events written
// by the client's own user ([WithClient], which asks
// [chatshipper.Client.SelfUserID], or [WithSelfUser]) are not dispatched, and
// [WithSkipBots] drops every bot's. With WithClient every message seen in an
// event also feeds the client's loop guard
// ([chatshipper.Client.ObserveMessages]), so a contact's reply resets the
// bot's consecutive-message count.
//
// # Events received elsewhere
//
// A serverless function or a queue consumer that receives the raw body itself
// checks it with [VerifySignature] and decodes it with [ParseEvent]; then
// [Handler.Dispatch] runs the event through the same routing, filters, own
// message skip and duplicate check as a delivery to ServeHTTP, and returns
// the handlers' error. [Sign] computes the signature header, for tests.
package webhook
