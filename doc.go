// Package chatshipper is a typed client for the ChatShipper (Web1on1) REST API
// v2: conversations between consumers, agents and bots, and the resources
// around them. It is written for Go automations: bots that answer in
// conversations, integrations that open and route conversations, and jobs
// that page through thousands of records.
//
// # Getting started
//
// Create one Client per token and share it between goroutines:
//
//	c, err := chatshipper.NewClient(os.Getenv("CHATSHIPPER_TOKEN"))
//	if err != nil { ... }
//	conv, _, err := c.Conversations.Get(ctx, "5bb0277fd99faf11a3f4a37e", nil)
//
// Every call takes a context.Context first and returns the typed result, a
// *Response (the HTTP response plus list metadata) and an error. Endpoints the
// SDK does not wrap are reachable with Client.NewRequest and Client.Do, which
// apply the same authentication, retries, limits and error mapping.
//
// # Authentication
//
// Every request carries "Authorization: Bearer <token>", set on a clone of the
// request so the caller's request is never modified, and only for the API's
// own host: a redirect to another host never carries the token.
//
// A bot user's API key is a permanent token: pass it to [NewClient].
// Time-based tokens expire after 24 hours; obtain one with [Login] (POST
// /v2/auth/token, with a one-time code when the account uses two-factor
// authentication) and keep it fresh with a [RefreshingTokenSource]:
//
//	tok, err := chatshipper.Login(ctx, chatshipper.Credentials{Email: email, Password: password})
//	src, err := chatshipper.NewRefreshingTokenSource(chatshipper.RefreshConfig{
//		Token:     *tok,
//		OnRefresh: func(t chatshipper.Token) { save(t) },
//	})
//	c, err := chatshipper.NewClient("", chatshipper.WithTokenSource(src))
//
// A token holding a byte that cannot appear in a bearer token (the line break
// a token read from a file often ends with, another control character, a
// space) is refused with an [*ArgumentError]: by [NewClient] and
// [NewRefreshingTokenSource] at once, and, coming from any other
// [TokenSource], by the call before any I/O.
//
// The refreshing source refreshes shortly before the JWT's exp claim (read
// without verifying), and once after a 401 or 403 whose message says the token
// expired or is invalid (the documentation says 403, the official Node SDK
// reacts to 401: both are handled). Concurrent callers share one refresh,
// which runs detached from the call that started it, bounded by its own 30 s
// timeout: every waiting call, the one that started it included, returns its
// context's error at its own deadline, and the refresh finishes for the
// others.
//
// The base URL must be https; http is accepted only for loopback hosts (tests
// and the chatshippertest fake server), so a token never crosses a network in
// clear text. Tokens, passwords, refresh tokens and webhook secrets never
// appear in an error string or a log line, and no value holding one prints
// it, with any fmt verb or either slog handler: [*Client], every token
// source, [Token], [Credentials], [RefreshConfig], [UserCreate], [UserUpdate]
// and the webhook service types print redacted. The *http.Request reachable
// from a returned [*Response] or error is the caller's, without the
// Authorization header.
//
// # Retries and idempotency
//
// Requests go through go-retryablehttp with this package's own policy:
//
//	what happened                                 GET, DELETE          POST, PATCH, PUT
//	could not connect (the request never left)    retried              retried
//	transient network error (the server may       retried              returned (*TransportError)
//	  have acted): reset, EOF, timeout
//	any other transport error (not a network      returned             returned
//	  error, e.g. httpmock's "no responder found")
//	429 Too Many Requests                         retried after        retried after
//	                                              Retry-After          Retry-After (the server did not act)
//	429 with a Retry-After over the longest wait  *RateLimitError      *RateLimitError
//	429 bot loop limit                            *LoopLimitError      *LoopLimitError
//	502, 503, 504                                 retried              returned
//	500 and every other status                    returned             returned
//	context cancelled or past its deadline        returned at once     returned at once
//
// A request that may have created something (a message!) is never sent twice
// unless the caller opts in with [WithRetryNonIdempotent]. Redirects count: a
// POST, PATCH or PUT whose first hop was answered (with a redirect, say) is
// never sent again, whatever happens to the redirected request, and
// [TransportError.MayHaveReachedServer] reports true for it. Each attempt has
// its own timeout (60 s, or the Timeout of the client given to
// [WithHTTPClient]), which does not count the wait for a rate-limit slot; an
// attempt that runs out of time fails with an [*AttemptTimeoutError] inside a
// [*TransportError].
//
// Only transport errors known to be transient are retried: a failed network
// operation (could not dial, connection refused, reset or aborted, broken
// pipe), a DNS lookup that timed out or failed temporarily, any timeout (an
// attempt's own timeout, a TLS handshake timeout), and a connection closed
// before the whole answer arrived (io.EOF, io.ErrUnexpectedEOF). Everything
// else fails at once: an error from a test double such as httpmock's "no
// responder found", a TokenSource's error, a certificate that does not
// verify, an unknown host, too many redirects.
//
// Retry-After (seconds or an HTTP date, on a 429, 502, 503 or 504) is a
// floor, never shortened: the client waits at least that long before the
// next attempt. When it is longer than the longest wait the client is willing
// to make ([WithRetryWait]'s max, 30 s by default), the call does not retry
// and returns at once, a 429 as [*RateLimitError] with RetryAfter set, so the
// caller can schedule the work for later. A 429's Retry-After also pauses the
// shared rate limiter for all of it. Without Retry-After the wait grows
// exponentially with full jitter. [WithMaxRetries] sets the number of retries
// (default 3). Cancelling the context ends a call at once, also while it
// waits between retries.
//
// With [WithLogger] every retry decision is logged at debug level, with the
// attempt number, the reason (status or transport error), the server's
// Retry-After and the wait chosen, and so are waits of 100 ms or more for the
// rate limiter and token refreshes: a slow job's log shows whether it waited
// on the rate limit, on Retry-After or on a refresh.
//
// # Errors
//
// A non-2xx answer is returned as [*ErrorResponse] (status, the server's
// message from either {"message": ...} or {"error": {"message": ...}}, the raw
// body capped at 1 MiB, method and URL). Branch with errors.Is on the
// sentinels:
//
//	ErrBadRequest (400)  ErrUnauthorized (401)  ErrForbidden (403)  ErrNotFound (404)
//	ErrUnprocessable (422)  ErrRateLimited (429)  ErrServer (5xx)
//
// and with errors.As for details: [*RateLimitError] (RetryAfter, Attempts)
// when a 429 outlasted the retries or asked for a longer wait than the
// longest retry wait, [*LoopLimitError] for a bot loop limit,
// [*TransportError] when no answer arrived (MayHaveReachedServer tells
// whether a POST could have been acted on), [*ArgumentError] (errors.Is
// [ErrInvalidArgument]) for input refused before any I/O: a malformed ID, a
// token that cannot be sent, a request path whose query holds a '#', a space
// or a control character. A cancelled or expired context gives an error for
// which errors.Is(err, context.Canceled) or errors.Is(err,
// context.DeadlineExceeded) holds. Response bodies are capped (32 MiB by
// default, [WithMaxResponseBytes]); a larger one is [ErrResponseTooLarge].
//
// URLs in errors and log lines never carry user info, and query values that
// may be a consumer's personal data are replaced by REDACTED: the value of a
// parameter whose name mentions email, mail, phone, mobile, password, token
// or secret; any value holding an "@"; and any value (or list element) that
// looks like a telephone number ("+" and 6 to 15 digits, separators allowed,
// or 6 to 15 bare digits). Parameter names and other values (ids, status,
// dates, limit, offset) stay, so a log line still says what was asked.
//
// # Times, references and unknown data
//
// Timestamp reads ISO 8601 with or without an offset (none means UTC) and with
// or without fractional seconds, and writes RFC 3339 in UTC with milliseconds.
// A Ref[T] field holds an ID until the request populates it, then the object:
// Ref.ID is always set, Ref.Value only when populated. Unknown JSON fields are
// ignored and unknown enum values are kept, because the API adds fields and
// values in backward-compatible releases.
//
// # Queries
//
// List calls take a *Query built with the API's query language (chapter 3 of
// the API docs). Builders return a new query, so a base query can be shared
// and refined:
//
//	q := chatshipper.NewQuery().
//		Where("status", chatshipper.In("queued", "active")).
//		Where("meta.intent", chatshipper.Eq("greeting")).
//		Where("createdAt", chatshipper.Between(chatshipper.Gte(from), chatshipper.Lt(to))).
//		Populate("messages", "type", "text").
//		Select("status", "meta").
//		Sort("-createdAt").
//		Limit(50)
//
// Filters: Exists (field=), NotExists (field=!), Eq, Ne (!=), Gt, Gte, Lt, Lte,
// Between (two bounds), In ([a,b]), Nin (![a,b]) and Regex (~). Fields may be
// dot paths ("meta.intent", "categories.name") or array indexes
// ("participants.1" with Exists or NotExists). WhereAny sends an OR query over
// several fields ("name,displayName=acme"). Populate takes an optional field
// list ("messages:type|text").
//
// A query the server would read differently from what the code says is
// refused before any I/O with an error matching ErrInvalidQuery (*QueryError
// names the field): the same field twice, an Eq value that looks like an
// operator (use the operator instead), a comma inside a list value, an empty
// field name, a limit below 1, a negative offset, a populate path given twice.
// The API's mandatory filters are checked too: listing messages needs one of
// id, organization, conversation, type, role or createdAt; a conversation
// query on a meta field needs one of id, type, participants.user, status,
// createdAt, categoryIndex, category, organization or updatedAt. ParseQuery
// reads a query string back into a *Query.
//
// # Pagination
//
// List returns one page; its *Response carries the list headers: Total
// (X-Total), TotalPages, Page, PerPage, RangeStart/RangeEnd (X-Range) and the
// offsets of the Link relations (FirstOffset, PrevOffset, NextOffset,
// LastOffset; -1 when absent). Only the query part of a Link is trusted.
//
// ListIter returns an iter.Seq2 over every item, fetching pages lazily (200
// per request, the server's default, unless the query sets a limit). It
// follows rel="next" when present, else offset+len(page), and stops at
// X-Total or a short page without an extra empty request. An error is yielded
// once and ends the iteration; breaking out of the loop stops fetching:
//
//	for conv, err := range c.Conversations.ListIter(ctx, q) {
//		if err != nil { return err }
//		...
//	}
//
// # Commands and messages
//
// Messages and commands share one input type, MessageInput, so a conversation
// can be created or sent an ordered, mixed batch:
//
//	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
//		Name:     "Announcement",
//		Messages: []chatshipper.MessageInput{chatshipper.Chat("Hello"), chatshipper.NotifyChannels(channelID)},
//	})
//	_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("hi"), chatshipper.SetMeta("engagement", "high"))
//	_, _, err = c.Conversations.Command(ctx, conv.ID, chatshipper.Accept().As(agentID))
//
// Every command of the API has a constructor: Notify, NotifyOrganizations,
// NotifyChannels, Assign, Join, Accept, Leave, Close, Forward (a /leave and
// /join pair), Block, SetName, SetCategory, SetCategoryIndex, SetTouchpoint,
// SetLanguage, SetMeta, SetMetaValues, Like, CommentOn, SendForms, SendForm,
// Import and BotCommand (">name args", ignored by ChatShipper). Message
// constructors: Chat (with modifiers such as Backchannel, OnBehalfOf,
// WithTouchpoint, WithDelay, Quote, WithActions), Image, Card with items and
// PostbackAction, ReplyAction or LinkAction buttons, Mention (ToUser or
// ToOrganization), Tag, ActivateForm, DeactivateForm, Field and Report.
// Constructors validate their arguments and keep the first error in the
// value; Create, Send and Command refuse a batch holding an invalid message
// before any I/O, so nothing of it is sent.
//
// The conversation lifecycle: a conversation is queued when channels are
// notified (a contact's first message, /notify) or a participant's inbox flag
// is set (/assign); active when an agent accepted it (/accept); closed when the
// last accepting agent leaves (/leave) and the contact's last message was
// answered (otherwise it is queued again); archived when merged into another
// conversation (/import). A contact message on a closed conversation queues it
// again.
//
// # Rate limits and the loop guard
//
// The API allows 20 requests per second per token and per IP address. The
// client keeps under that: at most 20 requests in any sliding window of one
// second plus a 25 ms margin, shared by every goroutine using the Client,
// first come first served, and every attempt (retries included) takes a slot.
// WithRateLimit(n) changes the limit, WithRateLimit(0) turns it off, and
// WithLimiter plugs in any Limiter (for example one shared between
// processes). A 429 with Retry-After pauses the whole limiter, so concurrent
// goroutines do not keep hitting the server.
//
// Bots are also limited per conversation: at most 8 identical messages (same
// type, text and meta) in 3 minutes, and at most 20 consecutive messages in an
// hour until an agent or the contact replies; the server then blocks the bot
// for up to an hour. The loop guard (on by default, WithLoopGuard(false) turns
// it off) mirrors both limits before a message is sent: Create with messages,
// Send and Command refuse a batch that would break one with *LoopLimitError
// (errors.Is(err, ErrLoopLimit)), naming the limit and when it frees, and
// send nothing. The guard learns of replies from messages the SDK reads
// (listing or getting messages, populated conversations), from webhook events,
// and from Client.ObserveReply. Messages sent with the contact role (relayed
// consumer messages) are not counted. A server 429 that names a loop limit is
// returned as the same error type and never retried. Memory is bounded: the
// least recently used conversations are forgotten.
//
// # Resources
//
// Besides Conversations and Messages, the Client has a typed service per
// resource: Contacts (with FindByTelephone), Users (with Me, the token's own
// user), Organizations, OrgGroups, Channels, Services (with CreateWebhook and
// Verify), Forms, Workflows, Bots and BotInstances. Each has List, ListIter,
// Get, Create, Update (PATCH: only the fields set are sent; nested objects
// such as meta or params replace the stored value whole) and Delete, written
// once in the generic Resource type. Collections without a typed service
// (kbases, kbitems, articles, files, locations, watemplates, metrics, points,
// partners, tests, testresults, links, and any future one) are reached with
// Client.Collection(name), whose Document keeps every field as the server
// sent it.
//
// # Webhooks
//
// WebhookHandler is the http.Handler for a webhook URL. It answers the
// subscription check (GET ?type=subscribe&challenge=X with X as plain text),
// caps POST bodies (1 MiB by default; 413 beyond), and with a secret set
// (WithWebhookSecret) checks X-Hub-Signature, "sha1=" and the hex HMAC-SHA1 of
// the raw body, in constant time before any parsing: a missing or wrong
// signature answers 401 and no handler runs. Without a secret nothing is
// verified, so anyone who knows the URL can post events; always set one in
// production. Malformed JSON answers 400.
//
// Events are decoded into a typed Event (ID, Name, Timestamp, Organization,
// Activity, Data with the typed Conversation and Message, Links, and Raw) and
// dispatched to every handler whose pattern matches, in registration order:
// "*" matches exactly one dot-separated word and "**" any number of words
// ("message.create.contact.*", "message.**", "*.update"). Handlers may add
// filters: MessageRole, MessageTypes, ConversationTypes, MetaEquals,
// ConversationMetaEquals, and the text triggers OnText, OnTextFold and
// OnTextMatch for chat and postback messages. For message events Data.Resources
// is nil; Event.Resource reads any other data key from Raw.
//
// Message events are decoded in a single pass by the SDK's own decoder, about
// 3.5 times faster than encoding/json on a typical 2 KB event (BENCHMARKS.md).
// It is strict: wherever its reading could differ from encoding/json's (a
// duplicate key, a key in another letter case, a value of the wrong type,
// anything invalid) it hands the body to encoding/json, so the Event, and the
// error for a bad body, are always what encoding/json makes of it. Every string
// in an Event is its own copy, as with encoding/json.
//
// A handler error (or panic) answers 500 so the platform retries; success
// answers 200. The platform retries for up to 24 hours, so the handler
// remembers recent event IDs (10,000 by default) and runs each event once; an
// event whose handler failed is forgotten, so its retry runs again.
// WithWebhookAsync acknowledges at once and processes in the background with a
// bounded queue (503 when full, so the platform retries): the platform gives
// up after 20 seconds. Shutdown drains every acknowledged event.
//
// Bots must not answer themselves: by default message events caused by the
// client's own user (WithWebhookClient, from the token's _id claim, or
// WithWebhookSelfUser) are not dispatched, and WithWebhookSkipBots drops every
// bot message. With WithWebhookClient, messages seen in events also feed the
// loop guard, so a contact's reply resets the consecutive-message count.
//
// For serverless functions, VerifySignature(body, header, secret) and
// ParseEvent(body) do the same work on a raw body.
//
// # Testing with chatshippertest
//
// The package chatshippertest is a stateful fake ChatShipper server: it keeps
// conversations, messages and every other collection, runs the conversation
// lifecycle and every command, answers the query language with the list
// headers, enforces the request and loop limits, delivers signed webhooks, and
// injects faults. Start it in one line and point a client at it:
//
//	srv := chatshippertest.NewServer(t)
//	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
//
// srv.Seed names the seeded organization, users (bot, admin, agents, guest),
// channels and form; srv.Requests() records what reached the server;
// srv.InjectFault makes requests fail. NewInProcessServer serves without a
// socket, for tests inside testing/synctest bubbles where waits take no time.
package chatshipper
