// Package chatshipper is a typed client for the ChatShipper (Web1on1) REST API
// v2: conversations between consumers, agents and bots, and the resources
// around them. It is written for Go automations: bots that answer in
// conversations, integrations that open and route conversations, and jobs
// that page through thousands of records.
//
// # Getting started
//
// Create one [Client] per token with [NewClient] and share it between
// goroutines:
//
//	c, err := chatshipper.NewClient(os.Getenv("CHATSHIPPER_TOKEN"))
//	if err != nil { ... }
//	conv, _, err := c.Conversations.Get(ctx, "5bb0277fd99faf11a3f4a37e", nil)
//
// Every call takes a [context.Context] first and returns the typed result, a
// [*Response] (the HTTP response plus list metadata) and an error. Endpoints
// the SDK does not wrap are reachable with [Client.NewRequest] and [Client.Do],
// which apply the same authentication, retries, limits and error mapping.
// Optional fields of create and update bodies are pointers: [Ptr] makes one
// in place.
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
// appear in an error string or a log line, not even when the server's message
// quotes them (see Errors), and no value holding one prints
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
// next attempt. A date is a moment on the server's clock, so it is measured
// from the Date header of the same answer, not from the client's clock: a
// server whose clock is hours ahead or behind asks for the same wait. When it is longer than the longest wait the client is willing
// to make ([WithRetryWait]'s max, 30 s by default), the call does not retry
// and returns at once, a 429 as [*RateLimitError] with RetryAfter set, so the
// caller can schedule the work for later. Seconds are read whatever their
// number of digits; a value beyond 24 hours (even one too large for any
// integer) counts as 24 hours, never as no Retry-After. A 429's Retry-After
// also pauses the shared rate limiter for all of it. Without Retry-After the wait grows
// exponentially with full jitter. [WithMaxRetries] sets the number of retries
// (default 3). Cancelling the context ends a call at once, also while it
// waits between retries.
//
// With [WithLogger] every retry decision is logged at debug level, with the
// attempt number, the reason (status or transport error), the server's
// Retry-After and the wait chosen, and so are waits of 100 ms or more for the
// rate limiter and token refreshes: a slow job's log shows whether it waited
// on the rate limit, on Retry-After or on a refresh. [WithObserver] hands the
// same decisions to code, for traces and metrics (see "Observing what the
// client decides" below).
//
// # Exactly-once delivery
//
// The API has no idempotency keys, so the SDK brings its own. With delivery
// tracking on (the default; [WithDeliveryTracking](false) turns it off),
// every message that Create, Send and Command create carries a random
// 128-bit key (32 hex digits) in its meta under [DeliveryKeyMeta]
// ("chatshipperDeliveryKey"), and so does every conversation Create makes. A
// key the caller sets there is kept: it is the caller's own idempotency key
// (1 to 128 letters, digits, '-' or '_', with a letter, not readable as a
// number or boolean, unique within the conversation). The loop guard ignores
// keys: two messages that differ only in their key are identical to it.
//
// A caller's own key makes the send idempotent across calls, processes and
// restarts (a webhook handler that runs twice for one event, two replicas, a
// retried job): before the first send, the SDK looks the caller's keys up,
// with the same request as below (one GET for all of a batch's caller keys,
// 50 keys per request, more only when the server's pages are shorter than
// the answer), and a message already stored under its key is returned, not
// sent again, and not counted again by the loop guard. The others (those
// without a caller key, and those not found) are sent, in order, in one
// request. Only sends with a caller-set key pay that GET. Sends without one
// skip it, as their random keys cannot have been used. The window: two calls
// that run at the same time with the same key (between one's lookup and its
// store) can both send, and the message is then stored twice; serialise
// the work per key (a queue, a lock, the webhook package's dedupe) where
// that matters. A "/set" command without a key of its own is sent again.
// The same holds for [ConversationsService.Create] when the caller sets the
// key in the conversation's meta: the conversation is looked up by it first,
// and when it exists it is returned and only those of its initial messages
// with a caller-set key that are missing are sent. Its initial messages
// without a caller-set key are taken to have been stored with it.
//
// When a send ends in an outcome that may or may not have created its
// messages (the connection failed after the request may have left, an
// attempt timed out, the answer was 500, 502, 503 or 504, or the caller's
// context ended while the request was out), the SDK does not guess. It waits
// (the server's Retry-After, or the retry backoff), then looks the keys up
// through the same limiter and retry policy as every GET:
//
//	GET /v2/messages?conversation={id}&meta.chatshipperDeliveryKey=[k1,k2,...]
//
// and reads every page of the answer until each key is found or the pages
// run out: the page length is the server's (the API's default of 200 may
// change, and a server may cap the limit asked for), so the lookup follows
// the next link or X-Total, and without either reads on until a page comes
// back empty. A transport error that is not a network failure (httpmock's
// "no responder found", an error of the caller's own RoundTripper) is not
// ambiguous: it is returned at once, without a wait or a lookup, as the
// table above says. It then decides:
//
//	found                        success: the stored messages are returned, nothing is sent again
//	not found                    not created: sent again at once with the same keys, at most
//	                             WithMaxRetries times; after a 500 (never retried), a
//	                             Retry-After beyond the longest wait (looked up at once,
//	                             not waited for) or with the budget used up, the error is
//	                             returned, and the messages it names were not stored
//	found in part, the rest      *DeliveryUnknownError naming every key of the send, its Err
//	  not sent again             the send's error, LookupErr nil; the stored messages are
//	                             returned beside it (see below)
//	the lookup fails             *DeliveryUnknownError, errors.Is(err, ErrDeliveryUnknown):
//	                             nothing is sent again; it carries ConversationID and Keys
//
// So a plain error from a send means that none of its messages is stored,
// and the send may be made again as it was. When part of a send is stored and
// the rest cannot go (a 500, the budget used up, a refusal or an answer that
// leaves messages out, below), the send returns the stored messages, in
// order, and a [*DeliveryUnknownError] whose Keys are every key of the send,
// in the order of its messages, and whose Err is what went wrong:
// [MessagesService.Resolve] of those keys tells which are stored; send the
// others again with the same keys in their meta (or repeat the send with
// keys of your own, see above, which skips the stored ones).
//
// A refusal of a message send (400, 413, 422) is the server's answer, and is
// never sent again; but the docs do not say that a refused batch stored
// nothing, so its keys are looked up too, at once (one GET): found whole,
// the send succeeds; found in part, see above; not found, the refusal is
// returned as it is. A lookup that fails gives a *DeliveryUnknownError with
// the refusal as Err (errors.As finds the [*ErrorResponse] either way).
// Sends without a key (only "/set" commands) are not looked up.
//
// A 2xx answer is checked too: the docs do not promise that it lists every
// message sent, and the SDK knows every key it sent. The messages the answer
// does not list (a short array, an empty one, an empty body) are looked up by
// their keys (one GET; none when the answer lists them all): found, they are
// returned as stored, and the send succeeds; not found, they were not
// stored, and are not sent again (the server said it took them): the send
// fails with an error matching [ErrInvalidResponse] that says how many are
// missing, a *DeliveryUnknownError as above when the rest is stored. A lookup
// that fails gives a *DeliveryUnknownError naming the keys the answer left
// out. A "/set" command without a key that the answer leaves out counts as
// stored when every keyed message is. With delivery tracking off nothing can
// be looked up: an answer that lists fewer messages than were sent gives a
// *DeliveryUnknownError counting the others in Unkeyed (no Keys), beside the
// messages listed.
//
// A [*DeliveryUnknownError] is resolved later with one call:
// [MessagesService.Resolve](ctx, e.ConversationID, e.Keys...) returns one
// entry per key, the stored message or nil; a nil one was not created and may
// be sent again with the same key in its meta. With delivery tracking on, a
// message POST is never re-sent blindly, even with WithRetryNonIdempotent:
// the lookup decides. When a lookup settled a call, the *Response returned is
// the lookup's (or that of the last send).
//
// Batches resolve per message. A batch is processed in order (as the
// official Node SDK documents; whether the live API stores it atomically is
// not documented, and the fake server stores a batch whole or not at all, so
// there a batch that fails half-way leaves nothing), so the messages found
// form a prefix of the batch and only the rest is sent again, in order, in
// one request: the order of messages within the conversation is kept. Should
// a lookup ever show a gap (a later message stored, an earlier one not), the
// missing messages are still sent, once each and in their order, after the
// stored ones: nothing is lost or doubled, but those messages then follow the
// later one.
//
// The messages a send returns are in the order the caller gave them, whatever
// order the server's answer lists them in: each is placed by its delivery key
// (the docs do not say in which order a batch's answer comes). Messages whose
// key the answer does not show (a "/set" command without one; a server that
// leaves meta out) take the places left, in the server's order.
//
// Creates: after an ambiguous Create the conversation is looked up by its key
// (GET /v2/conversations?meta.chatshipperDeliveryKey={key}&createdAt=>=1970-01-01T00:00:00.000Z:
// the API wants an indexed filter beside a meta filter, and the key decides
// alone, so the createdAt filter excludes nothing; a floor from the client's
// clock would miss a conversation stored by a server whose clock is behind).
// When the server appended the messages to an existing contact's
// conversation, it is found by the keys of its initial messages (GET
// /v2/messages with createdAt): by the SDK's own keys at any time. When every
// initial message carries a caller-set key, those keys are unique within a
// conversation only, and another conversation may hold a message under one
// of them; so they are searched only for a create naming a contact by e-mail
// or telephone (without one, the server cannot append to an existing
// conversation, and the conversation's key decides alone), and a
// conversation found by them is taken only when (1) the message was stored
// after the create started, in the server's clock (the start moved by the
// server's Date against the client's clock, whichever way they disagree), and
// (2) it is that contact's conversation (same e-mail address or telephone
// number; one GET of the contact when needed), in the create's organization
// when it names one. A server whose answers carry no Date gives no clock to
// tell: a message found that way is a *DeliveryUnknownError, never a guess.
// Left open: the Date has a resolution of one second, so a message under the
// same key stored in that contact's conversation within about a second
// before the create counts as the create's; one initial message without a
// caller-set key (found by the SDK's own key) closes that too. Found, the conversation is returned and any initial message missing
// from it is sent; not found, the create is sent again within the budget. A
// failed lookup gives a *DeliveryUnknownError with ConversationKey and Since,
// for [ConversationsService.ResolveCreate].
//
// "/set" commands (SetMeta, SetMetaValues) carry no key: the server merges a
// command's meta into the conversation's meta, where a key would stay. Such a
// command is placed by the keyed messages around it (before a stored message:
// stored, though left out of the returned messages, having no key to fetch
// it by; after a missing one: sent again); when nothing places it (a lone
// /set), the send returns a *DeliveryUnknownError counting it in Unkeyed.
// Setting the same values again leaves the conversation's state unchanged.
//
// Should the server compare meta when it counts identical messages for its
// bot loop limit (the docs do not say; the fake server does), keys make every
// SDK message unique to that count; the loop guard, which ignores keys, still
// enforces the limit on the client side.
//
// What the SDK cannot see: a server that goes on working on a request long
// after its client gave up may store it after the lookup; the wait before the
// lookup (never shorter than the sum of the messages' Delay fields, as a
// delayed message may be stored late) narrows that window but cannot close
// it. A lookup costs one request per ambiguous outcome (50 keys per request,
// and one per further page of the answer) and takes a rate-limit slot like
// any other.
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
// URLs in errors, log lines and observers never carry user info, and a query
// value is kept only when it cannot be a consumer's personal data: the values
// of sort, select, populate, limit and offset; filter operands that are ids,
// numbers of at most 5 digits, true, false, null or dates and times
// (createdAt=>2024-01-01 stays); and lowercase words in the API's
// enumerations (status=open, participants.role=[agent,bot]). Every other value
// is replaced by REDACTED: message texts and regular expressions (text=~refund),
// names, anything under meta, e-mail addresses, telephone numbers and long
// digit runs, and any value of a parameter whose name mentions email, mail,
// phone, mobile, password, token or secret. Parameter names always stay, so a
// log line still says what was asked. For the same reason the query builder's
// errors quote a refused value only when it is of the kinds kept above, and
// otherwise give its length ("Lt value (13 bytes, not quoted) contains a
// comma").
//
// A server may quote in its message the value it refused, as validation
// errors do ("Path `password` (`hunter2`) is shorter than the minimum
// allowed length"), or the token it refused. Before any answer becomes an
// error, every secret the request carried is replaced by "[redacted]" in the
// message, the error string and the kept body: the bearer token, and in the
// JSON body the values under a credential's name (password, otp,
// refreshToken, secret, token, accessKey, signingKey, apiKey and the like,
// numbers included; not the delivery key) and the user info password and
// credential query values (?token=) of every URL. This holds for every call,
// Login and token refreshes included, and whatever JSON escaping the server
// writes the quoted value with (\u00e4, surrogate pairs, \/): the kept body is
// redacted by the decoded value of each of its strings, keys included, and
// stays JSON.
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
// The meta of a resource the API returns (Conversation.Meta, Message.Meta,
// Contact.Meta, ...) is an [Object]: its JSON as received, decoded only when
// read, so a page nobody reads the meta of builds no maps. Read it with
// conv.Meta.Get("intent"), [Object.Lookup], [Object.Map] (a fresh [Meta] map)
// or [Object.Decode] (into a struct); build one with [ObjectOf]. A Get finds
// its key in the JSON and decodes that value alone; an object read more than
// a few times is decoded once and read from then on, and every nested map or
// slice a read returns is the caller's copy. [Meta], a
// plain map, is what you send: in create and update bodies and in commands
// such as [SetMetaValues].
//
// JSON is read and written by encoding/json before Go 1.27 and by
// encoding/json/v2 from Go 1.27 on, with the same results and errors of the
// same types (*json.SyntaxError, *json.UnmarshalTypeError) on both: v2 runs
// with encoding/json's options, so both accept duplicate keys (the last one
// wins), replace invalid UTF-8 with U+FFFD and match keys to fields without
// regard to case. Pages of conversations and messages (and the conversation
// and message of a webhook event) are read first by the SDK's own one-pass
// decoder, on both toolchains, at a quarter of encoding/json's CPU and half
// of encoding/json/v2's; wherever its reading could differ from
// encoding/json's (a duplicate key, a key in another letter case, a value of
// the wrong type, anything invalid or unusual) it gives up and the page is
// decoded again by encoding/json, so what a List returns, and the error for
// a bad page, are always what encoding/json makes of the body. No string
// returned shares memory with the response body.
//
// # Queries
//
// List calls take a [*Query] built with [NewQuery] in the API's query language
// (https://developers.chatshipper.com/docs/api-resource-sets). Builders return
// a new query, so a base query can be shared and refined:
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
// Filters: [Exists] (field=), [NotExists] (field=!), [Eq], [Ne] (!=), [Gt],
// [Gte], [Lt], [Lte], [Between] (two bounds), [In] ([a,b]), [Nin] (![a,b]) and
// [Regex] (~). Fields may be dot paths ("meta.intent", "categories.name") or
// array indexes ("participants.1" with Exists or NotExists). [Query.WhereAny]
// sends an OR query over several fields ("name,displayName=acme"): a literal,
// case-insensitive substring match, with regular-expression metacharacters
// escaped; [Query.WhereAnyRegex] sends a pattern on purpose. [Query.Populate]
// takes an optional field list ("messages:type|text").
//
// A query the server would read differently from what the code says is
// refused before any I/O with an error matching [ErrInvalidQuery] and
// [ErrInvalidArgument] ([*QueryError] names the field): the same field twice, an Eq value that looks like an
// operator (use the operator instead), a comma inside a list value, an empty
// field name, a limit below 1, a negative offset, a populate path given twice.
// The API's mandatory filters are checked too: listing messages needs one of
// id, organization, conversation, type, role or createdAt; a conversation
// query on a meta field needs one of id, type, participants.user, status,
// createdAt, categoryIndex, category, organization or updatedAt. These rules
// belong to the collection, so [Client.Collection]("messages") applies them
// too.
//
// # Pagination
//
// List returns one page; its *Response carries the list headers: Total
// (X-Total), TotalPages, Page, PerPage, RangeStart/RangeEnd (X-Range) and the
// offsets of the Link relations (FirstOffset, PrevOffset, NextOffset,
// LastOffset; -1 when absent). Only the query part of a Link is trusted.
//
// ListIter returns an iter.Seq2 over every item, 200 per request (the
// server's default) unless the query sets a limit. While the loop works on
// one page the next is already being fetched, through the same limiter and
// retries as every call. An error is yielded once and ends the iteration;
// breaking out of the loop cancels the request in flight and returns only
// when nothing of the walk runs any more:
//
//	for conv, err := range c.Conversations.ListIter(ctx, q) {
//		if err != nil { return err }
//		...
//	}
//
// A loop may change what it walks over. Unless the query sorts or filters on
// id, the walk pages by key: after each page it asks for the items whose id
// is greater than the last one seen ("id=>..."; lists are ordered by id by
// default). So every item that matched when the walk began and still matches
// when the walk gets to it is yielded exactly once, however the loop moves
// items out of the query, deletes them or creates others (matching items
// created during the walk come last). A query with Sort, or its own filter
// on id, is walked by offset instead: an item that leaves the query or is
// deleted during such a walk makes it skip one of the items after it; an
// item that enters it before the walk's position pushes one onto the next
// page, where the walk drops it rather than yield it twice. A page fetched
// ahead holds its items as they were a page earlier.
//
// The API documents paging by offset and limit only, so the walk checks that
// the server pages by key before relying on it: the first page asked by key
// must hold ids in increasing order after the last one seen. An empty answer
// while X-Total, a next link or a full page says more remain, or an X-Total
// that counts fewer items than the page before left, is in doubt: the
// listing may have changed (the loop, or anyone, deleted items or moved them
// out of the query), or the key filter may miss items. One request by
// offset, for the page at the walk's position, decides: an empty answer
// gives way to it when it holds items. Otherwise the walk goes by offset
// when that page holds an item after the last id seen that the answer by key
// should have held and did not (when the listing shrank, the page as far
// back as the shrink can have moved the items is asked too), or an item whose
// id is not after the last id seen, or when the ids up to the last one seen
// ("id=<=X", one request more) count more items than came before the walk's
// position: on a server that orders by id they can only be fewer, however
// the listing changes, as items created later have greater ids. Else the
// count moved with the listing, and the walk goes on by key. (The listing's
// own X-Total decides nothing: a loop that deletes an item and creates
// another leaves it as it was.) A server that ignores "id=>", refuses it
// (400 or 422), answers it with nothing, skips items with it or lists them
// in another order (newest first, say) is walked by offset from there on
// (following the next link, else counting items), and the logger set with
// WithLogger gets one warning, "chatshipper: walk pages by offset", with the
// reason. Such a walk never yields an item twice: it keeps the id of
// every item it yielded (one string per item, for the rest of the walk) and
// drops any it meets again. Nor does it skip items unseen, as far as X-Total
// tells: when a page's X-Total is lower than the page before's (with
// Concurrency, other than the first page's), items may have moved past the
// walk, and it ends with ErrListingChanged (which matches ErrInvalidResponse)
// before yielding that page; walk again until the query is empty. A change
// that removes and adds as many items between two pages, or a server without
// X-Total, leaves it blind: it then skips an item for each one that leaves
// the listing before its position, as a walk by offset does. Once a server
// has paged by key, a page by key that would repeat an item or is out of id
// order is refused: the walk ends with an error matching ErrInvalidResponse
// before any item of that page is yielded. A page shorter than the limit is
// the last only when neither X-Total nor a next link says more remain (a
// server may cap its pages below the limit, and say so in X-Per-Page). A
// short page that comes with none of X-Total, Link and X-Per-Page is never
// taken for the end: a server may cap its pages without saying so, so the
// walk asks for the next page and ends when it is empty. A server that
// sends no paging headers costs one more request at the end of a walk.
//
// Walk returns the same walk as a value that tells its progress from the list
// headers, without extra requests: Total (from X-Total), Page and Count, read
// inside the loop. Its Pages yields whole pages, each a *Page with its Items
// and *Response:
//
//	w := c.Conversations.Walk(ctx, q)
//	for conv, err := range w.Items() {
//		if err != nil { return err }
//		fmt.Printf("%d of %d\n", w.Count(), w.Total())
//	}
//	for page, err := range c.Contacts.Walk(ctx, q).Pages() { ... page.Items, page.Response ... }
//
// Prefetch(n) sets how many pages are fetched ahead (default 1, 0 for none);
// memory stays bounded by the pages in flight. Concurrency(n) fetches up to n
// pages at once, so a large listing is read at the rate limit rather than one
// round trip per page. Both count at most 64 pages (a larger n counts as 64).
// A query that neither sorts nor filters on id is then walked by id ranges:
// beside the first page, one request reads the greatest id (sort=-id, limit
// 1; else the last item by offset), the ids in between are split into up to
// n ranges (ids are ObjectIds, which begin with their creation time), and
// each range is walked by key at once ("id=>a,<=b"; the last range has no
// upper bound). The promise of the walk by key holds: every item that matched
// when the walk began and still matches when its range reaches it is yielded
// exactly once, whatever the loop changes. The order is not the listing's:
// the first page comes first, then the ranges' pages as they arrive, ids
// increasing within each range. The first answers of all ranges are checked
// before any is yielded: ids in order and inside their range, and, when they
// are all empty or their X-Totals add up to less than the first page left,
// the page by offset decides as above. A server that does not compare ids
// that way, or ids that are not ObjectIds, make the walk go by offset from
// the second page on, with the warning above; it ends with ErrListingChanged
// when a page's X-Total differs from the first page's. A query with Sort or
// an id filter is walked by offset n pages at once and yielded in order: its
// pages are as long as the first answer (a server may cap them below the
// limit), a page that comes back shorter is completed before it is yielded,
// and its offsets are fixed when it starts, so use it only when nothing
// changes the listing during the walk (it may skip items then; it keeps the
// id of every item it yielded and never yields one twice).
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
// WithTouchpoint, WithDelay, Quote, WithActions), Image, Card with its
// CardItems (NewCardItem) and PostbackAction, ReplyAction or LinkAction
// buttons, Mention (ToUser or ToOrganization), Tag, ActivateForm,
// DeactivateForm, Field and Report with its FormResults.
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
// again; /join re-opens a closed conversation (active) and leaves a queued or
// active one as it is. So Forward (/leave, then /join) ends queued when the
// contact's last message is unanswered and no other agent has accepted, and
// otherwise active (an archived conversation stays archived); [Forward] lists
// the cases.
//
// # Rate limits and the loop guard
//
// The API allows 20 requests per second per API key and per IP address. The
// client keeps under both: at most 20 requests in any sliding window of one
// second plus a 25 ms margin, shared by every goroutine using the Client,
// first come first served, and every attempt (retries included) takes a
// slot. Besides its own window, each Client takes a slot of a window shared
// by every Client of the process that talks to the same API host (scheme,
// host and port), so two clients with different keys send 20 per second
// together, not 40.
//
// The limit holds at the server, where it is measured, whatever the delays
// on the way: a slot is held from its grant until the attempt ends (its
// answer's headers arrive, or it fails) and counts for a window from then.
// A server counts a request between its arrival and its answer, so the next
// window's requests reach it at least a second after the earlier ones, also
// on a machine so busy that requests leave late. The cost is one round trip
// per window: a client sending as fast as it may gets 20 requests per one
// second, the margin and one round trip (19.5 per second on a fast network,
// about 17 at 150 ms). One request escapes the count: net/http's Transport
// itself sends a GET once more, inside the same attempt and slot, when a
// kept-alive connection it reused closes after the request was written and
// before any answer (a server closing idle connections as it answers); the
// server then counts two requests for one slot.
//
// WithRateLimit(n) changes the client's own limit and WithRateLimit(0)
// turns both windows off (for tests against a fake server). WithIPRateLimit
// sizes or turns off the shared window. WithLimiter and WithIPLimiter plug
// in limiters of your own, for example the redisstore module's, shared
// between processes by API key and by egress address; they apply whatever
// WithRateLimit says. A Limiter that also implements SlotLimiter holds its
// slots as described; one that implements Pauser is paused by a 429 with
// Retry-After, which pauses both limiters, so concurrent goroutines (and
// the other clients of the host) do not keep hitting the server. Inside a
// testing/synctest bubble each Client has a shared window of its own, so
// tests in parallel bubbles never wait for each other.
//
// Bots are also limited per conversation: at most 8 identical messages in 3
// minutes, and at most 20 consecutive messages in an hour until an agent or
// the contact replies; the server then blocks the bot for up to an hour
// (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting).
// The loop guard mirrors both limits before a message is sent: Create with
// messages, Send and Command refuse a batch that would break one with
// *LoopLimitError (errors.Is(err, ErrLoopLimit)), naming the limit and when it
// frees, and send nothing. A send with caller-set keys (see "Exactly-once
// delivery") looks them up first: the messages already stored are returned
// and not counted again, and only the others are checked and counted, so a
// repeated send of stored work is never refused by the guard. A server 429
// that names a loop limit is returned as the same error type (FromServer set)
// and never retried.
//
// The limits apply to messages created as a bot user, so by default the guard
// applies only when the client's user is a bot: the token's role claim, else
// the highest scope of its scope claim (scopes are cumulative: "viewer guest
// agent bot admin" is an admin), else the login answer of a
// RefreshingTokenSource, else the user's record (one GET /v2/users/{id}, the
// role of its selected organization), learned once. When none of these tells,
// the guard applies. WithLoopGuard(true) forces it on, WithLoopGuard(false)
// off. WithLoopGuardConfig changes the limits.
//
// The guard counts what the server counts. The docs leave some points open;
// the guard takes these readings (the chatshippertest fake the same, except
// that its default reading of identical compares type, text and meta):
//
//   - A message with role agent or contact (a relayed consumer message, a bot
//     speaking to the consumer as an agent, an agent's reply) is a reply, not
//     a bot message: it is not counted and it resets the consecutive count.
//     The guard learns of replies from the messages it sends with those roles
//     (once the server answered 2xx), from messages the SDK reads (listing or
//     getting messages, populated conversations), from webhook events, and
//     from Client.ObserveReply and Client.ObserveMessages. Identical counts
//     survive replies.
//   - What makes two messages identical is not documented: a server may
//     compare the text alone, the text and meta, or the type, text and meta.
//     The guard takes the strictest reading by default, the same text
//     ([IdenticalByText]), so it never lets a bot through to a block the
//     server would impose, whatever the server compares; the price is that
//     a ninth message with the same text but another type or meta within 3
//     minutes is refused even by a server that would take it.
//     LoopGuardConfig.IdenticalBy sets the server's reading when it is
//     known ([IdenticalByTextMeta], [IdenticalByTypeTextMeta], the
//     chatshippertest fake's default). Meta is compared as the server reads
//     the JSON back (key order and number spelling do not matter). A
//     message whose meta cannot be encoded is refused with an
//     *ArgumentError before it is counted.
//   - The initial messages of Create count like any other, in order; a batch
//     is all or nothing.
//   - A message sent at t counts until t+window: at exactly t+window it no
//     longer does.
//   - The guard counts on the client's clock; the replies it reads carry the
//     server's (createdAt), which may be hours off. It places them on its
//     own clock by the Date header of the server's answers, at the earliest
//     moment they can have been (Date has whole seconds, so a reply may be
//     placed up to a second and a round trip early) and never in the
//     future: a reply frees at most the messages sent before it, and the
//     bot's messages of the second before a reply may stay counted.
//
// A message counts from the moment it is sent, and stops counting when the
// request provably did not create it: it never left the machine (a dial
// error, or the token source failed), it failed before any I/O, the server
// answered 4xx (a loop-limit 429 included; after a 400, 413 or 422 the
// messages the lookup finds stored keep counting), the delivery lookup found it
// missing, or a caller-set key found it stored by an earlier call (so it was
// not sent). This holds per message of a batch: when the lookup found 2 of 3
// stored and the third, sent again, was refused, the 2 keep counting and the
// third does not. It keeps counting on 2xx, on 5xx
// and when the answer was lost, since the server may have stored it:
// counting a message the server did not store only makes the guard stricter
// for a while, while missing one
// it stored would let the bot run into the server's block. For the same
// reason a reply sent in a request whose outcome is unknown does not reset
// the count. With WithRetryNonIdempotent, a batch sent again after a 502, 503
// or 504 is still counted once, though the server may have stored it twice.
//
// The counts live in a LoopGuardStore, per bot user and conversation: by
// default in the client's memory (the least recently used conversations are
// forgotten beyond LoopGuardConfig.MaxConversations). WithLoopGuardStore
// shares them, for example between every process that sends as the same bot;
// the loopguardtest package checks a store against the contract. The guard
// only knows what passes through its store: messages sent by other processes
// under the same bot with another store, and replies it is not told about,
// are not counted.
//
// # Sending in bulk
//
// The rate limit caps requests, not messages: a request may carry an ordered
// array of messages. [ConversationsService.NewBatchSender] returns a
// [BatchSender], safe for many goroutines, that puts the messages waiting for
// a conversation into one request:
//
//	s, err := c.Conversations.NewBatchSender()
//	if err != nil { ... }
//	defer s.Close(ctx)
//	msgs, err := s.Send(ctx, convID, chatshipper.Chat("hello"))  // returns once stored
//	p := s.Queue(ctx, convID, chatshipper.Chat("and then"))      // returns at once, in order
//	msgs, err = p.Result()
//
// A conversation has one request in flight at a time. Under the rate limit a
// send goes at once, alone; at the limit, the sender starts no more requests
// per second than the limiter grants, the conversation that has waited
// longest first, and whatever arrived for a conversation by its turn goes in
// its request, in arrival order, each call's messages together, up to
// [MaxBatch] messages (default [DefaultMaxBatch], 50; the API documents no
// limit). Each call gets its own messages, or its own error: every batch goes
// through exactly-once delivery above, call by call (a call stored whole
// succeeds, a call not stored at all gets the plain error, a call stored in
// part or in doubt gets a *DeliveryUnknownError with only its keys), the
// loop guard checks call by call, and a batch refused whole with 400, 413 or
// 422 is looked up once, then each call not found stored whole is sent again
// in a request of its own, only its missing messages, so that only the call
// at fault gets the refusal. A call whose context
// ends while queued is not sent; once its request is out, it returns a
// *DeliveryUnknownError to resolve after [BatchSender.Flush]. Create sends a
// conversation with its initial messages in one request, in turn with the
// batches. [BatchSender.Close] sends what is queued, then refuses sends with
// ErrSenderClosed. examples/bulk sends 600 messages over 60 conversations
// in 120 requests where one message per request takes 660.
//
// # Resources
//
// Besides [Client.Conversations] and [Client.Messages] (with
// [MessagesService.Replace], the PUT the official Node SDK uses), the Client
// has a typed service per resource: Contacts (with
// [ContactsService.FindByTelephone]), Users (with [UsersService.Me], the
// token's own user), Organizations, OrgGroups, Channels, Services (with
// [ServicesService.CreateWebhook] and [ServicesService.Verify]), Forms,
// Workflows, Bots and BotInstances. Every service has the same shape: List,
// ListIter, Get, Create, Update (PATCH: only the fields set are sent; nested
// objects such as meta or params replace the stored value whole) and Delete,
// each documented with its verb and path, all served by one generic
// implementation. Collections without a typed service (kbases, kbitems,
// articles, files, locations, watemplates, metrics, points, partners, tests,
// testresults, links, and any future one) are reached with
// [Client.Collection], whose [Document] keeps every field as the server sent
// it.
//
// # Webhooks
//
// Package [github.com/go-chatshipper/chatshipper/webhook] receives webhooks:
// its Handler answers the subscription challenge, verifies signatures,
// decodes events, skips duplicates and the bot's own messages, and routes
// events to handlers by pattern and filter. Connected to a Client with
// webhook.WithClient, it asks [Client.SelfUserID] who the bot is (a token
// that is not a JWT cannot tell: give the bot's user ID with
// webhook.WithSelfUser) and tells the loop guard what it saw with
// [Client.ObserveMessages]. A failed event is logged to slog.Default() unless
// the handler has a logger or an error handler of its own. Its patterns take
// "**" for any number of words; the platform's own event filter (the Events
// of [WebhookServiceCreate]) does not, and CreateWebhook refuses "message.**"
// saying so: subscribe to all events, or to each depth, and let the handler's
// pattern choose. For bots it
// offers chipchat's conversation context (say, ask and answer kept in the
// conversation's meta so any replica takes the answer, accept, leave, set),
// middleware, and replies whose delivery keys are derived from the event, so
// that a redelivered event is answered once; webhook.NewBotFromEnv configures
// a bot from the environment as chipchat reads it.
//
// # Observing what the client decides
//
// [WithObserver] hands the client's decisions to an [Observer]: the start
// and end of each call ([CallInfo]: service, method, collection; [CallResult]:
// outcome, last status, attempts), each HTTP request sent (status or error
// kind), and each [Decision]: a retry and its reason and wait, an attempt's
// wait for the rate limiter, a pause for a 429's Retry-After, a loop guard
// refusal, a delivery lookup, a re-send, an unknown outcome. The webhook
// handler has its own (webhook.WithObserver: verified, refused, duplicate,
// handled, failed, the handlers' time). The separate module
// github.com/go-chatshipper/chatshipper/otel turns both into OpenTelemetry
// spans (a span per call, a child per attempt, events for the decisions, the
// W3C trace context on every request) and metrics:
//
//	obs, err := otel.New() // the global OpenTelemetry providers
//	c, err := chatshipper.NewClient(token, chatshipper.WithObserver(obs))
//
// An observer never receives a token, a password or a message text, and
// URLs reach it redacted as in errors. Without one, the client does no work
// for it.
//
// # Testing your automation
//
// Code that uses the SDK is tested in one of three ways. None of them needs a
// ChatShipper account or the network.
//
// The fake server, package chatshippertest, is a stateful ChatShipper: it
// keeps conversations, messages and every other collection, runs the
// conversation lifecycle and every command, answers the query language with
// the list headers, enforces the request and loop limits, delivers signed
// webhooks, and injects faults. Start it in one line and point a client at it:
//
//	srv := chatshippertest.NewServer(t)
//	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
//
// srv.Seed names the seeded organization, users (bot, admin, agents, guest),
// channels and form; srv.Put stores documents directly; srv.LoadSeedFile
// adds organizations, users, bots, channels, conversations and tokens from a
// JSON seed file; srv.Requests records what reached the server;
// srv.InjectFault makes requests fail. The same fake runs as a standalone
// server for tests in other languages (a bot's Node or Python test suite):
// go run github.com/go-chatshipper/chatshipper/cmd/chatshipper-fake@latest,
// with a control API for its clock, faults, webhook deliveries and reset.
//
// Recorded fixtures with httpmock: answer the client's requests from JSON
// files under testdata/. Give each test its own transport, so tests can run in
// parallel:
//
//	mt := httpmock.NewMockTransport()
//	mt.RegisterResponder("GET", "https://api.chatshipper.com/v2/conversations",
//		httpmock.NewStringResponder(200, fixture))
//	c, err := chatshipper.NewClient(token, chatshipper.WithHTTPClient(&http.Client{Transport: mt}))
//
// httpmock's global activation works too: without [WithHTTPClient], a client
// uses whatever [http.DefaultTransport] is when [NewClient] runs. That is also
// the trap: a client built before httpmock.Activate keeps the real transport
// and talks to the real network. Build clients after activating, or pass the
// transport explicitly. A request with no responder fails at once with
// httpmock's error, which the client does not retry.
//
// Record and replay, for fixtures from a real account: package
// [github.com/go-chatshipper/chatshipper/chatshippertest/replay] records what the
// real API answered once and replays it offline. replay.New(t,
// "testdata/fixtures/"+t.Name()) records through the real API when the test
// runs with -chatshipper.record (or CHATSHIPPER_RECORD=1), scrubbing tokens,
// passwords, secrets and signatures, and replays the committed fixture files
// otherwise; its ClientOptions plug it into NewClient, replay.Register serves
// the fixtures from an httpmock transport, and replay.Seed loads recorded
// documents into the fake server. A request that was not recorded fails at
// once, naming the closest recording. A request that got no answer (a
// dropped connection, a reset, a timeout) is recorded by its kind and replays
// as the same kind of transport error, so a send's delivery lookup replays too.
//
// Waiting without waiting: inside a [testing/synctest] bubble, Retry-After
// pauses, backoff and the rate limiter's waits take no real time. A socket
// would leave the bubble, so serve the fake without one:
//
//	synctest.Test(t, func(t *testing.T) {
//		srv := chatshippertest.NewInProcessServer(t)
//		c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL),
//			chatshipper.WithHTTPClient(srv.Client()))
//		...
//	})
//
// Fast tests: the fake and the client both keep the API's limit of 20
// requests per second, so a suite that creates hundreds of documents runs at
// that pace by accident. The window a client shares with the other clients
// of the process never couples unrelated tests: it is per scheme, host and
// port (each httptest server has its own port), per transport for test
// doubles such as httpmock's or the fake's in-process one, and per client in
// a synctest bubble. Turn the limits off for unit tests in two lines:
//
//	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
//	c, err := srv.NewClient() // its URL and bot token, with WithRateLimit(0)
//
// Keep them on in tests of rate limiting itself.
//
// # Which servers the promises hold against
//
// The API documentation leaves open how long a page is, whether an id
// compares with "id=>", which paging headers come, what the server's clock
// says, what its error messages quote, what its Retry-After looks like, what
// makes two messages identical, and how late, in what order and how often
// webhooks arrive. The chatshippertest fake can be each of those servers
// (chatshippertest.Profiles), and the SDK's own test suite (TestPromises,
// `go test -run TestPromises -v .` prints the matrix) runs every promise of
// this manual under every profile that bears on it: exactly-once sends and
// creates, caller keys, walks, refusal before I/O, the limiter and the
// window per address, Retry-After, the loop guard, secrets, record and
// replay, webhook duplicates and ordering. Where a promise cannot hold
// against a server the documentation allows, this manual says so and the
// suite checks what is promised instead:
//
//   - A walk changed by its own loop (items leaving the query, deleted)
//     sees every item once only on a server that honours "id=>"; on one that
//     ignores, refuses or empties it the walk goes by offset (see
//     Pagination): it never yields an item twice, and when X-Total shows the
//     listing shrinking under it, it ends with ErrListingChanged (which
//     matches ErrInvalidResponse) rather than skip items. Walk again until
//     the query is empty. Where the server sends no X-Total, or a change
//     adds as many items as it removes between two pages, such a walk can
//     skip items unseen, as a walk by offset does.
//   - The loop guard reads "identical" as the same text by default, which
//     refuses some messages a server comparing meta or type would take (see
//     Rate limits and the loop guard); with LoopGuardConfig.IdenticalBy set
//     to the server's reading it refuses exactly what that server refuses.
//     A reply read from a server whose clock is off is placed to the
//     second, so the bot's messages of the second before it may stay
//     counted.
//   - With the client's limiter off (WithRateLimit(0)) a server's 429s are
//     retried as they say: without Retry-After, after the exponential
//     backoff, which a burst may use up (*RateLimitError); with a Retry-After
//     over the longest wait, at once as *RateLimitError. With the limiter on,
//     as by default, the client does not meet them.
package chatshipper
