package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// What a message send's answer accounts for, and what a caller is told when
// part of a send was stored (see "Exactly-once delivery" in the package
// documentation).

// shortAnswer is the error of a 2xx answer to a message POST that lists
// fewer messages than were sent.
func shortAnswer(resp *Response, listed, sent int) error {
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	return fmt.Errorf("%w: the server answered %d listing %d of the %d messages sent", ErrInvalidResponse, status, listed, sent)
}

// checkAnswer makes sure a 2xx answer to a message POST accounts for every
// message sent (the positions pending of got, filled from the answer by
// placeAnswer), and sets their outcomes. A message with a delivery key that
// the answer does not list is looked up by its key: found, it is returned as
// stored; not found, it was not stored, and the send fails with an error
// matching ErrInvalidResponse that says so (the messages are not sent again:
// the server said it took them). When the lookup fails, the messages not
// listed are in doubt: a *DeliveryUnknownError. A "/set" command without a
// key that the answer does not list is taken as stored when every keyed
// message is, and otherwise placed by the keyed messages around it (see
// place). The *Response is the lookup's when there was one.
func (c *Client) checkAnswer(ctx context.Context, conversationID string, resp *Response, got []*Message, outcomes []sendOutcome, pending []int, keys []string) (*Response, error) {
	var absent []string
	listed := 0
	for _, i := range pending {
		outcomes[i] = outcomeCreated
		switch {
		case got[i] != nil:
			listed++
		case keys[i] != "":
			absent = append(absent, keys[i])
		}
	}
	if len(absent) == 0 {
		return resp, nil
	}
	short := shortAnswer(resp, listed, len(pending))
	found, lresp, err := c.lookupMessages(ctx, conversationID, absent)
	c.observeLookup(ctx, conversationID, len(absent), len(found), err)
	if err != nil {
		unkeyed := 0
		for _, i := range pending {
			if got[i] == nil {
				outcomes[i] = outcomeUnknown
				if keys[i] == "" {
					unkeyed++
				}
			}
		}
		return resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: absent, Unkeyed: unkeyed, Err: short, LookupErr: err}
	}
	if len(found) == len(absent) {
		for _, i := range pending {
			if got[i] == nil && keys[i] != "" {
				got[i] = found[keys[i]]
			}
		}
		return lresp, nil
	}
	known := make(map[string]*Message, len(pending))
	for _, i := range pending {
		if got[i] != nil && keys[i] != "" {
			known[keys[i]] = got[i]
		}
	}
	for k, m := range found {
		known[k] = m
	}
	var missing []int
	unknown := 0
	for j, p := range place(pick(keys, pending), known) {
		i := pending[j]
		if got[i] != nil {
			continue
		}
		switch p {
		case placedStored:
			got[i] = known[keys[i]] // nil for a "/set" command without a key
		case placedMissing:
			outcomes[i] = outcomeNotCreated
			missing = append(missing, i)
		default:
			outcomes[i] = outcomeUnknown
			unknown++
		}
	}
	notStored := fmt.Errorf("%w; %d of them are not stored (not found by their %s)", short, len(missing), DeliveryKeyMeta)
	if unknown > 0 {
		return lresp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(pick(keys, missing)), Unkeyed: unknown, Err: notStored}
	}
	return lresp, notStored
}

// partlyStored is the error of a send, or of a call's part of a batch
// (got[i] its i-th message as stored, outcomes[i] what was done with it,
// keys[i] its delivery key), that failed with err: err itself when none of
// its messages is stored, so that sending it again stores nothing twice.
// When some are stored, a plain error would invite the caller to send them
// again, so it is a *DeliveryUnknownError naming every key of the send (in
// order, so [MessagesService.Resolve] tells which are stored), with err as
// its Err; the messages stored come back beside it. An err that is already
// a *DeliveryUnknownError is returned as it is.
func partlyStored(conversationID string, keys []string, got []*Message, outcomes []sendOutcome, err error) error {
	if err == nil {
		return nil
	}
	var due *DeliveryUnknownError
	if errors.As(err, &due) {
		return err
	}
	stored, unkeyed := false, 0
	for i := range got {
		switch {
		case got[i] != nil || outcomes[i] == outcomeCreated:
			stored = true
		case outcomes[i] == outcomeUnknown && (i >= len(keys) || keys[i] == ""):
			unkeyed++
		}
	}
	if !stored {
		return err
	}
	return &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(keys), Unkeyed: unkeyed, Err: err}
}

// untrackedAnswer is the error of a message POST sent without delivery keys
// (tracking off) whose 2xx answer lists fewer messages (listed) than were
// sent: the others cannot be looked up, so their outcome is unknown.
func untrackedAnswer(conversationID string, resp *Response, listed, sent int, err error) error {
	if err != nil || listed >= sent {
		return err
	}
	return &DeliveryUnknownError{ConversationID: conversationID, Unkeyed: sent - listed, Err: shortAnswer(resp, listed, sent)}
}

// refusedContent reports whether err is the server refusing a request for
// what it carries (400, 413, 422). The docs do not say whether a refused
// batch may have been stored in part, so the keys of a refused send are
// looked up (see deliverEach).
func refusedContent(err error) bool {
	var er *ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	switch er.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
