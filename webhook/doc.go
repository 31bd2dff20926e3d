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
// Message events are decoded in a single pass by the package's own decoder,
// on every Go version (from Go 1.27 too: encoding/json/v2 decodes the models
// by reflection, at about twice the CPU). It is strict: wherever its
// reading could differ from encoding/json's (a duplicate key, a key in
// another letter case, a value of the wrong type, anything invalid) it hands
// the body to the SDK's codec, so the Event, and the error for a bad body,
// are always what encoding/json makes of it. No string in an Event shares
// memory with the body, as with encoding/json; short strings that earlier
// events decoded to the same bytes (IDs, types, roles) are reused, as
// encoding/json/v2 does. The Event and the activity, conversation and message
// it decodes are one allocation, so keeping one of them (a *Message, say)
// keeps the memory of the others (about 1.3 KB), though never the body's.
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
// A failed event is never silent: it goes to [WithErrorHandler] when one is
// set, is logged to [WithLogger]'s logger when one is given, and otherwise
// is logged to [slog.Default] at error level (event name, ID, error).
// WithLogger(nil) silences the handler; an error handler that ignores the
// error silences failed events only.
//
// # Bots
//
// Bots must not answer themselves: by default message.create events written
// by the client's own user ([WithClient], which asks
// [chatshipper.Client.SelfUserID], or [WithSelfUser]) are not dispatched, and
// [WithSkipBots] drops every bot's. The client can tell its user only from a
// JWT (a login's token) or a login answer; with a token that is not a JWT, a
// bot's permanent API key for instance, it cannot, own messages are then
// dispatched, and the handler logs that once (to its logger, or
// [slog.Default]). Give the bot's user ID with [WithSelfUser] (it is on the
// bot's user in the admin UI):
//
//	webhook.NewHandler(webhook.WithSecret(secret), webhook.WithClient(c),
//		webhook.WithSelfUser(os.Getenv("CHATSHIPPER_BOT_USER_ID")))
//
// With WithClient every message seen in an event also feeds the client's loop
// guard ([chatshipper.Client.ObserveMessages]), so a contact's reply resets
// the bot's consecutive-message count.
//
// # The conversation context
//
// [Handler.Conversation] gives a handler what chipchat, the official Node SDK,
// calls the conversation context: the event's conversation bound to the
// handler's client (a [*chatshipper.Client], or any [Client] that is also a
// [Sender]). [Conversation.Say] sends a chat message with the role agent, so
// it reaches the contact; [Conversation.Send] sends any messages and commands;
// [Conversation.Accept], [Conversation.Join], [Conversation.Leave],
// [Conversation.Close], [Conversation.Assign] and [Conversation.Notify] send
// the commands (https://developers.chatshipper.com/docs/messaging-commands );
// [Conversation.Set] and [Conversation.SetValues] send "/set". Meta is read
// without a request ([Conversation.Meta], [Conversation.MetaString]): from
// what this Conversation set, else from the newest copy of the conversation
// the handler has seen, the event's own or a later one brought by a
// conversation.update event ([Conversation.Data]).
//
//	err = h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
//		c, err := h.Conversation(ctx, e) // pass the handler's ctx: it numbers the sends
//		if err != nil {
//			return err
//		}
//		if name := c.MetaString("name"); name != "" {
//			_, err = c.Say(ctx, "Welcome back, "+name)
//			return err
//		}
//		_, err = c.Ask(ctx, "What is your name?", "name")
//		return err
//	})
//
// # Ask and answer
//
// [Conversation.Ask] asks a question and names the function that takes the
// answer, registered once at start-up with [Handler.RegisterAnswer] (chipchat's
// registerCallback). Nothing waits in memory: Ask sets the conversation's
// meta [AskedMetaKey] ("_asked" and the bot's user ID) to the name with
// "/set", exactly as chipchat does, and sends the question after it, in the
// same request. The
// contact's next chat or postback message (in a team conversation, a
// contact's or an agent's) arrives with that marker in its data.conversation,
// so whichever replica receives it clears the marker and runs the
// [AnswerFunc] instead of the handlers. A chipchat bot running as the same
// user reads the same marker: it answers questions asked here when it
// registered a callback of that name, and the answers registered here take
// the questions it asked with a callback name (a question asked with a
// callback function stores the question's message ID, which only that
// process can answer). The marker is read from the event's own copy of the
// conversation, never a newer one, so a later question cannot take an
// earlier answer. A marker naming no answer registered here is logged and the
// message goes to the handlers: the delivery is acknowledged, never retried
// for it. An empty question, an unregistered name, a handler without a
// client that can send and an unknown own user ID are refused before any
// request. Asked from a handler, Ask is idempotent per event: when its
// question is stored already (the event delivered again, perhaps after the
// contact answered), the marker is not set again and the stored question is
// returned, so an answered question is never re-armed (see below).
//
// # One reply per event
//
// Every message a handler (or answer function, or middleware) sends through
// its Conversation carries a delivery key in its meta
// ([chatshipper.DeliveryKeyMeta]) derived from the event (for a new message,
// the message's ID, which every delivery of it carries however the platform
// numbers its retries; otherwise the event ID), the bot's user ID, the
// handler (its pattern, or the answer's name) and the send's position among
// that handler's sends. A redelivered event, the same event handed to a second
// replica, or a restarted process thus sends the same keys, and the client,
// which looks a caller-set key up before the first send, returns the message
// already stored instead of posting it twice: one reply per event, with no
// shared store. The cost is one lookup request per send; two replicas running
// the same event at the same instant can both miss the other's message
// between lookup and store, which a shared [Deduper] prevents.
//
// "/set" commands carry no key (the server merges their meta into the
// conversation's), so a repeated run cannot find them; sending one again
// could undo what happened since the first run (re-arm a question answered
// since, clear the marker of a question asked since, put back a value a later
// event changed). So at its first keyless "/set" a run looks up, in one
// request, the keys its next 16 positions would have: when an earlier run
// stored a message at a later position, that run went past the "/set", and
// every "/set" before its last stored message is skipped; one after it is
// sent again (the same value). A first run pays that one lookup per run that
// sends a "/set", and no more. The lookup needs a [*chatshipper.Client] or a
// [Sender] that is also a [Resolver]; with any other Sender a repeated run
// sends its "/set" commands again. The sends of one handler should be made
// one after the other, since their order numbers them. [WithReplyKeys](false)
// turns the derived keys, and this check, off.
//
// # The order events go through, and middleware
//
// A delivery is checked (signature, size, JSON), claimed by the duplicate
// check, shown to the loop guard, and then:
//
//  1. the built-in filters drop the bot's own messages, bots' messages
//     ([WithSkipBots]) and, with [WithSkipUnjoined], messages of
//     conversations the bot has not joined (except an /assign, a bot command
//     or a mention that calls it in);
//  2. the middleware added with [Handler.Use] run, the first added outermost;
//  3. an answer to a question runs its [AnswerFunc], and nothing else;
//  4. otherwise every handler whose pattern and filters match runs, in
//     registration order, or only the first with [WithFirstMatchOnly].
//
// Sends go through the middleware added with [Handler.UseSend], the first
// added outermost, with their delivery keys already set. chipchat's event
// aliases are handler registrations: [Handler.OnNotify], [Handler.OnAssign],
// [Handler.OnCommand] (narrowed with [CommandName]) and [Handler.OnMention].
//
// # Configuration from the environment, and health
//
// [NewBotFromEnv] builds the client and the handler from [EnvToken],
// [EnvWebhookSecret], [EnvBaseURL], [EnvWebhookPath] and [EnvListenAddr], or
// from the names a chipchat bot uses (TOKEN, SECRET or WEBHOOK_SECRET,
// APIHOST, WEBHOOK_PATH, PORT), and refuses an empty token or secret and a
// base URL that is not https (loopback hosts excepted) with an [*EnvError]
// naming the variable, never its value. [Bot.ListenAndServe] serves the
// webhook on its path and [Handler.Health] on the path followed by "/ping",
// answering {"pong":"<milliseconds>"} as chipchat's router does, and 503 once
// the handler shuts down.
//
// # Events received elsewhere
//
// A serverless function or a queue consumer that receives the raw body itself
// checks it with [VerifySignature] and decodes it with [ParseEvent]; then
// [Handler.Dispatch] runs the event through the same routing, filters, own
// message skip and duplicate check as a delivery to ServeHTTP, and returns
// the handlers' error. [Sign] computes the signature header, for tests.
//
// # Observing
//
// [WithObserver] reports what the handler decides to an [Observer]: each
// delivery verified or refused (with the status answered), each duplicate or
// event still in progress, each delivery answered 503 without running the
// handlers, and each run of an event's handlers with its outcome (handled or
// failed) and time; the context it returns for a run is the one the
// handlers receive. The module github.com/go-chatshipper/chatshipper/otel
// implements it with OpenTelemetry.
package webhook
