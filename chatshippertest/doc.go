// Package chatshippertest is a stateful, in-memory fake of the ChatShipper
// REST API v2 for tests and offline examples.
//
// Start one per test; it is closed when the test ends:
//
//	srv := chatshippertest.NewServer(t)
//	req, _ := http.NewRequest("GET", srv.URL+"conversations", nil)
//	req.Header.Set("Authorization", "Bearer "+srv.Token)
//
// srv.URL is the API base including "/v2/". srv.Token is a permanent bot
// token; AdminToken, AgentToken and GuestToken belong to the other seeded
// users, and srv.Seed holds every seeded id and login (e-mail and password
// for POST /v2/auth/token). NewServer(nil) starts a server that the caller
// closes, as the examples do. IDs, names, slugs and generated secrets are
// deterministic for a given WithSeed and request order; webhook event ids are
// not: they are unique to each server, so a dedupe store that outlives one
// test run never takes the next run's events for repeats.
//
// # What it implements
//
//   - Auth: Bearer JWTs (HS256, claims _id, scope, organization, grant_type,
//     iat, exp; the scope lists the role's scopes cumulatively, "viewer guest
//     agent bot admin" for an admin) checked on every route but POST
//     /v2/auth/token, with the API's 401
//     messages ("No authorization token was found", "jwt expired", "invalid
//     signature", "invalid token", "jwt malformed: ..." for a token that
//     cannot be read) and 403 "Permission denied" from the
//     permission table of the docs. Operations the table does not show
//     (update, delete, other collections) need scope bot or admin. Login with
//     email/password, refresh with clientId/refreshToken; a refused refresh
//     answers 401 "Refresh refused: <reason>", never one of the access-token
//     messages above, on which clients refresh (and would loop). Deleting a user
//     revokes its tokens.
//   - Generic collections (conversations, messages, contacts, users,
//     organizations, channels, services, forms, ... 24 in all) with list,
//     create, fetch, PATCH (top-level merge, nested values replaced whole) and
//     delete; 404 "<Resource> not found", 400 for malformed ids and JSON, 422
//     for semantic errors.
//   - Conversations and messages with the lifecycle of the docs: queued,
//     active, closed, archived; participants with inbox/active/accepted
//     flags; the commands /notify, /assign, /join, /accept, /leave (/close),
//     /block, /set, /action like|comment, /send, /import; form and field
//     messages; bot commands (">...") stored and ignored. /enqueue is accepted
//     as an alias of /notify. A command meta key whose value is null counts
//     as absent. A request that fails half-way changes nothing.
//   - Mentions and tags
//     (https://developers.web1on1.chat/messaging/commentstagsandsearch): a
//     mention needs meta.targetUser (or chipchat's meta.targetBot; an id or
//     a list) or meta.targetOrganization; target users join with the inbox
//     flag, a target organization's channels are notified as for /notify; a
//     leading "@<displayName or name>" is stripped and meta.targetName set.
//     A tag's text is normalized ("#hashTag, hash !! tag#tag; #hash" is
//     stored as "hashTag hash tagtag") and gets empty actions and results.
//     Neither calls other participants in as a chat line does.
//   - Outbound messaging
//     (https://developers.chatshipper.com/docs/messaging-outbound): the
//     first consumer-facing message of a contact conversation (role agent,
//     chat or card, not backchannel) names the touchpoint when the
//     conversation has none, and its user, a bot included, accepts: active
//     and accepted, channels cleared, status active. A contact conversation
//     created with such a message is active from the start. Without any
//     touchpoint the message is stored and changes nothing (the
//     documentation says one is needed, not what happens without one).
//   - The query language of the docs on every list: operators, OR over
//     fields, dot paths, array indexes, select, populate (with field lists),
//     sort, offset/limit (any value up to the largest int answers a page;
//     anything else a 400), the X-Total/X-Range/Link headers, mandatory
//     filters. Lists are ordered by id unless sorted, ids follow creation
//     order, and "_id" is another name of "id" in filters and sorts (id=>X
//     pages by key).
//     Regular expressions (~re) are case-insensitive, like OR queries.
//   - Limits: 20 requests per sliding second per token and per IP, and the
//     bot loop limits (identical and consecutive messages, see below), all
//     429 with Retry-After. WithClock lets tests move time instead of
//     sleeping; timestamps, token times, the limits' windows and the Date
//     header of every answer follow it. The windows count the time passed
//     on that clock or really passed (the bubble's clock under
//     testing/synctest), whichever is more, so a Retry-After comes true by
//     waiting it even when the clock stands still.
//   - Fault injection (InjectFault): error statuses, Retry-After, delays,
//     dropped connections before or after acting.
//   - Transactions: every request is all or nothing, the ids, names and
//     secrets it drew included (a refused request consumes none). A batch of messages
//     (POST of an array) is stored whole and in order, or, when one of its
//     messages is refused, not at all; a fault with After (or DropAfter)
//     acts on the whole request first, then waits its Delay and answers its
//     Status, drops the connection, or sends the real answer late. Messages
//     can be found by any meta field with a dot path and an In list
//     (meta.key=[a,b]), within a conversation.
//   - Webhooks: services of type "webhook" are verified with the challenge
//     GET and receive signed event POSTs (message.create.<conversation
//     type>.<message type>, conversation.update after commands,
//     <resource>.create/update/delete), filtered by params.events ("*" one
//     word, "**" any number), in order per webhook, retried with doubling
//     delays. WaitDeliveries waits for them; WebhookDeliveries reports them.
//     Creating a webhook (or moving its URL) answers at once with status
//     "unverified" and runs the challenge in the background; events raised
//     meanwhile are held and delivered, in order, once the challenge passes
//     (dropped if it fails), so the first event after the create is never
//     lost. Event ids are unique to each server (see WithSeed).
//
// Requests returns every request received, in order. Get, List and Put read
// and write the state directly (Put stores documents verbatim, so fixtures
// round-trip exactly).
//
// # Seed files
//
// [ParseSeedFile] reads JSON data to add to the seeded start, and
// [Server.LoadSeedFile] stores it; the command chatshipper-fake
// (github.com/go-chatshipper/chatshipper/cmd/chatshipper-fake, the fake as a
// standalone server for tests in any language) takes the same file with
// -seed-file. Every section is an array and optional:
//
//	{
//	  "organizations": [{"id", "name"*, "displayName", "email", "parent", "categories": ["name", ...], "meta"}],
//	  "users":         [{"id", "email"*, "password", "role", "givenName", "familyName", "name", "organization", "meta"}],
//	  "bots":          [{"id", "name"*, "email", "password", "organization", "meta"}],
//	  "channels":      [{"id", "name"*, "organization", "users": [user ids], "meta"}],
//	  "conversations": [{"as", "organization", "name", "type", "contact": {"profile"*, "meta"},
//	                     "touchpoint", "meta", "messages": [{"text"*, "type", "role", "user", "meta",
//	                     "touchpoint", "isBackchannel", "contentType", "actions", "items"}]}],
//	  "tokens":        [{"user"*, "name", "ttl": "1h"}]
//	}
//
// (* required). Ids are 24 hex characters, optional (the server makes one)
// and needed only where another item refers to it; references may also name
// the default seed's ids. A role is admin, agent (the default), bot or guest.
// Items without an organization belong to the seeded one. A bot is a user
// with role bot (e-mail "bot+<id>@chatshipper.com" unless given), its bot
// definition (GET /v2/bots/<id>) and a permanent token. Conversations are
// created as POST /v2/conversations creates them, by the user "as" names
// (default the seeded bot), so their messages run commands, route and accept
// as usual, and refused as the API refuses them (a guest may not create
// one: "conversations[0].as: user ... has the role guest, which may not
// create conversations"); seeded messages do not count toward the loop
// limits. A token without ttl is permanent. The file is checked whole before
// anything is stored, and stored in one transaction: an unknown section or
// field, a name given twice in one object (JSON decoders keep only the
// last), a value of the wrong type, a reference that does not resolve, an
// e-mail address in use or anything the API would refuse fails with the
// path of the field ("users[1].emial: unknown field") and stores nothing,
// nor consumes ids. [SeedFileResult] lists the ids and tokens.
//
// # Fast tests
//
// Both the server and the SDK's client keep to the API's 20 requests per
// second by default, so a suite that makes many requests runs at that pace.
// For unit tests turn both off: WithRateLimit(0) on the server ([WithRateLimit]), and
// [Server.NewClient] builds a [github.com/go-chatshipper/chatshipper.Client]
// for the server (its URL, HTTP client and bot token) with the client's
// limiter off:
//
//	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
//	c, err := srv.NewClient()
//
// Keep the defaults in a test of how code behaves under the limit.
//
// # Bot loop limits
//
// The API limits messages created as a bot user, per bot and per
// conversation: 8 identical messages in 3 minutes, 20 consecutive messages in
// an hour until an agent or the contact replies
// (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting;
// WithLoopLimits changes the numbers). Where the docs leave a point open, the
// fake takes one reading, the same as the client's loop guard (for
// identical, the guard set to chatshipper.IdenticalByTypeTextMeta: its
// default compares the text alone, which is stricter):
//
//   - A bot user is a user whose role in its selected organization is bot;
//     only its messages are counted.
//   - A message with role agent or contact is a reply, whoever posts it (an
//     agent, a bot relaying a consumer's message, a bot speaking to the
//     consumer as an agent): it is not counted and it resets the consecutive
//     count of every bot in the conversation. Identical counts survive
//     replies.
//   - Identical means the same type, text and meta, meta compared as decoded
//     JSON (key order and number spelling do not matter; an empty meta is no
//     meta). The delivery key the SDK adds to every message
//     (meta.chatshipperDeliveryKey) is left out, so it never makes messages
//     differ; the SDK's loop guard leaves it out too.
//   - Every message a request creates counts, the initial messages of POST
//     /v2/conversations included, in order; a batch is all or nothing, so a
//     batch refused with 429 counts nothing.
//   - A message created at t counts until t+window: at exactly t+window it no
//     longer does. A refused message counts nothing.
//
// # Profiles: every server the documentation allows
//
// The defaults are one reading of the documentation. Where it leaves a point
// open, an option makes the fake another server it allows, and [Profiles]
// lists them by name, each with the documentation that allows it:
//
//   - page-cap-10, page-cap-50: pages capped below the limit asked
//     ([WithPageCap]).
//   - id-compare-ignored, id-compare-unmatched, id-compare-refused: id>X
//     and the other id ranges ignored, matching nothing, or answered 400
//     ([WithIDComparisons]).
//   - no-total, no-link, no-paging-headers: no X-Total, X-Total-Pages or
//     rel="last" link ([WithoutTotalHeaders]); no Link header
//     ([WithoutLinkHeader]); neither.
//   - clock-ahead-2h, clock-behind-2h: the server's clock 2 hours off
//     ([WithClockSkew]).
//   - errors-quote-values: 4xx messages quote the request's values,
//     secrets included ([WithErrorsQuotingValues]).
//   - retry-after-3600, retry-after-date, no-retry-after: 429s say
//     Retry-After: 3600 or more ([WithMinRetryAfter]), an HTTP date, or
//     nothing ([WithRetryAfterForm]).
//   - per-ip-limit: the documented 20 requests per second per key and per
//     IP, on ([WithRateLimit]).
//   - identical-text, identical-text-meta: the loop limit compares text
//     only, or text and meta but not type ([WithIdenticalBy]).
//   - webhooks-late, webhooks-out-of-order, webhooks-repeated: deliveries
//     10 minutes late ([WithWebhookDelay]), 0 to 2 minutes late at random
//     and so out of order ([WithWebhookJitter]), every event delivered
//     twice a minute apart ([WithWebhookRepeats]).
//
// Profiles combine: [ParseProfile] takes "default", a name, or names joined
// by "+" ("page-cap-10+no-total+clock-behind-2h"), and [Combine] joins
// Profile values; two parts that set the same thing are refused. A suite
// runs each promise under each profile:
//
//	for _, p := range chatshippertest.Profiles() {
//		t.Run("profile="+p.Name, func(t *testing.T) {
//			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), p.Option)
//			...
//		})
//	}
//
// Give a profile's Option after the options it should override (per-ip-limit
// after WithRateLimit(0)). The webhook profiles wait on timers: use them
// inside a testing/synctest bubble with NewInProcessServer and
// WithWebhookClient, where an hour's lateness takes no wall time.
//
// # Tests that wait
//
// A real socket keeps testing/synctest from advancing its fake clock. Inside
// a synctest bubble use NewInProcessServer, whose Client calls the server
// without a socket, and WithWebhookClient with HandlerTransport for webhook
// receivers; Delay faults and webhook retries then take no wall time.
//
// # Deliberate simplifications
//
// Lists are not restricted to the caller's organizations. Routing runs no
// workflows: /notify targets every channel of the organization(s).
// Unknown populate paths are refused with 400 rather than ignored. Deleting a
// conversation or contact does not cascade. Webhook secrets are left out of
// service event payloads. The spec's PATCH example shows the old
// params.password after a PATCH that replaces params; the fake follows the
// spec's text (nested objects are replaced whole), so the new one is kept.
package chatshippertest
