// Package replay records a test's exchanges with the ChatShipper API once and
// replays them offline on every later run: unit tests on fixtures recorded
// from a real account, committed under testdata/.
//
// # Recording and replaying
//
// [New] is the one entry point. It replays by default and records when the
// test runs with the -chatshipper.record flag or CHATSHIPPER_RECORD=1, in the
// manner of Go's golden files:
//
//	func TestCloseStale(t *testing.T) {
//		rp := replay.New(t, "testdata/fixtures/"+t.Name())
//		token := "replayed" // any token: nothing reaches the network
//		if rp.Recording() {
//			token = os.Getenv("CHATSHIPPER_TOKEN")
//		}
//		c, err := chatshipper.NewClient(token, rp.ClientOptions()...)
//		...
//	}
//
// Record once against the real account, review the files, commit them:
//
//	CHATSHIPPER_TOKEN=... go test -run '^TestCloseStale$' -args -chatshipper.record
//
// The client is built on the session's transport, so it cannot talk to the
// network behind the test's back; and a request that was not recorded fails
// at once with a [*NoFixtureError] (errors.Is [ErrNoFixture]) naming the
// request, the closest recorded one and what differs. The error is not a
// network error, so the client does not retry it.
//
// [Recorder] and [Replayer] are the two transports underneath, for use
// without a testing.TB (see the example). Both plug into a client with
// [chatshipper.WithHTTPClient].
//
// # Fixture files
//
// Each exchange is one pretty-printed JSON file named after its order, method
// and path: 0001-POST-auth-token.json, 0002-GET-conversations.json. A file
// holds the method, the path, the decoded query and body of the request, and
// the status, the headers that matter (Content-Type, Link, Retry-After, X-Total,
// X-Total-Pages, X-Range...) and the body of the response. Request headers are
// never recorded. Recording again replaces every file of the directory.
//
// A request that got no answer is recorded too, with an "error" in place of
// the response: "connection closed" (the connection closed before a whole
// answer, io.EOF), "connection reset", "could not connect" or "timeout", or
// the (scrubbed) message of another failure. Only a request whose context the
// caller canceled is not recorded. The replayer answers the same request with
// a [*TransportError] of the recorded kind, which the SDK classifies as it
// did the real failure: a send whose connection dropped after the server
// stored it is ambiguous, so the SDK looks its delivery keys up and the
// lookup replays from the next fixture, as recorded; a failure to connect
// never reached the server. For example:
//
//	{
//	  "request": {"method": "POST", "path": "/v2/conversations/5bb0.../messages", "body": [...]},
//	  "error": "connection closed"
//	}
//
// # Scrubbing
//
// Before a file is written, these become [Redacted]:
//
//   - the bearer token, and the value (string or number) of every JSON key,
//     query parameter or header that names a credential. A name does when,
//     lower-cased with '-', '_' and '.' removed, it contains password,
//     passwd, secret, token, credential, signature, apikey, privatekey,
//     cookie or authorization (but not when it ends in "type", as tokenType
//     does); when it is otp, pin, auth, key, sig or hmac; or when it ends in
//     "key" (accessKey, signingKey, encryptionKey, ...), except the keys that
//     identify rather than authenticate: those ending in deliverykey (the
//     SDK's chatshipperDeliveryKey), fieldkey, sortkey, idempotencykey,
//     primarykey, foreignkey, partitionkey, routingkey, cachekey and
//     lookupkey, which are kept, as are ids;
//   - the credentials of every URL in any string: a user info password
//     ("https://user:pass@host" keeps the user), user info without a password
//     (a token used as the user name) and the values of credential query and
//     fragment parameters ("?token=", "?access_token=", "#apiKey=");
//   - every JSON Web Token found anywhere;
//   - every later occurrence of a secret seen once, of 4 characters or more
//     (the token a login returned, a webhook URL's password), anywhere in the
//     exchange; a secret made only of digits (a one-time code) only where no
//     letter or digit touches it, so IDs and dates stay whole.
//
// The scheme and host of the API become [RecordedOrigin], and the replayer
// puts the replayed request's origin back, so a fixture recorded against one
// base URL replays against another. Dates and IDs are kept as recorded, so
// replays are deterministic. A file's name is made from the scrubbed path,
// after the caller's scrubbers too: it holds nothing its contents do not.
//
// [WithScrubber] adds scrubbers for what only the caller knows about:
// [ScrubRegexp] for e-mail addresses or telephone numbers, [ScrubKeys] for
// more keys, [ScrubStrings] or a [Scrubber] of one's own for the rest. The
// replayer runs the same scrubbing over each incoming request before
// matching, so a login replays whatever password the test sends, and the same
// scrubbers must be given when replaying.
//
// # Matching
//
// A request matches a recorded one with the same method and path, the same
// decoded query in any parameter order, and the same JSON body as a value
// (key order and spacing do not matter, every value does). Each recording
// answers once; the same request recorded several times is answered in the
// recorded order. [Replayer.Unused] lists what was recorded but not asked for.
//
// Delivery keys are the one exception, so that code sending messages replays
// with delivery tracking on, as by default. The client puts a new random key
// under [chatshipper.DeliveryKeyMeta] in the meta of every conversation and
// message it creates; a string under that key, at any depth of the body,
// matches any string, and the client's delivery lookup
// (GET /v2/messages?meta.chatshipperDeliveryKey=[k1,k2]) matches a recorded
// lookup with the same operator and number of keys. The answer then carries
// the keys of the replayed request where the recording had its own, position
// by position, in the body and in headers such as Link, as the server would
// have answered: the client's own check of the keys it gets back passes.
// A recorded key of 16 characters or more (the client's are 32) is replaced
// wherever it appears; a shorter one, set by the caller, only where it stands
// alone. Nothing needs to be configured for this.
//
// # httpmock and the fake server
//
// [Register] serves a directory from an [httpmock.MockTransport] beside the
// test's own responders. [Seed] loads the documents of recorded answers into
// a [chatshippertest.Server] with its Put, so a test can start the stateful
// fake from a real account's shapes.
package replay
