//go:build go1.27 && goexperiment.jsonv2

package webhook

// decodeEventFast is the hand-written event decoder of fastdecode.go, which
// Go 1.27 and later do without: encoding/json/v2, with the models' streaming
// methods, decodes a message event about as fast (BENCHMARKS.md, "Webhooks").
// It always leaves the body to the codec.
func decodeEventFast([]byte, *eventTyped) bool { return false }
