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
// closes, as the examples do. IDs, names and slugs are deterministic for a
// given WithSeed and request order.
//
// # What it implements
//
//   - Auth: Bearer JWTs (HS256, claims _id, scope, iat, exp, grant_type)
//     checked on every route but POST /v2/auth/token, with the API's 401
//     messages ("No authorization token was found", "jwt expired", "invalid
//     signature", "invalid token") and 403 "Permission denied" from the
//     permission table of the docs. Operations the table does not show
//     (update, delete, other collections) need scope bot or admin. Login with
//     email/password, refresh with clientId/refreshToken. Deleting a user
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
//     as an alias of /notify. A request that fails half-way changes nothing.
//   - The query language of the docs on every list: operators, OR over
//     fields, dot paths, array indexes, select, populate (with field lists),
//     sort, offset/limit, the X-Total/X-Range/Link headers, mandatory filters.
//     Lists are ordered by id unless sorted, ids follow creation order, and
//     "_id" is another name of "id" in filters and sorts (id=>X pages by key).
//     Regular expressions (~re) are case-insensitive, like OR queries.
//   - Limits: 20 requests per sliding second per token and per IP, and the
//     bot loop limits (identical and consecutive messages), all 429 with
//     Retry-After. WithClock lets tests move time instead of sleeping.
//   - Fault injection (InjectFault): error statuses, Retry-After, delays,
//     dropped connections before or after acting.
//   - Webhooks: services of type "webhook" are verified with the challenge
//     GET and receive signed event POSTs (message.create.<conversation
//     type>.<message type>, conversation.update after commands,
//     <resource>.create/update/delete), filtered by params.events ("*" one
//     word, "**" any number), in order per webhook, retried with doubling
//     delays. WaitDeliveries waits for them; WebhookDeliveries reports them.
//
// Requests returns every request received, in order. Get, List and Put read
// and write the state directly (Put stores documents verbatim, so fixtures
// round-trip exactly).
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
