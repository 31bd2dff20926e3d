package chatshipper

//go:generate go run ./internal/gen/services

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
)

// resource is the one implementation of the CRUD calls every service makes:
// T is the resource, C the body that creates one and U the body of a PATCH.
// Each service holds one and declares its own methods (services_gen.go), so
// that `go doc` shows every method with its concrete verb and path; the
// methods only forward here. Every call validates before any I/O: a malformed
// ID or a nil body is an *ArgumentError, a bad query a *QueryError, and the
// collection's mandatory filters (query_rules.go) apply to every service of
// that collection, Client.Collection included.
type resource[T, C, U any] struct {
	client  *Client
	path    string           // the collection, relative to the base URL: "contacts"
	idName  string           // the ID argument's name in errors: "contactID"
	err     error            // why the collection was refused (Client.Collection)
	observe func(items []*T) // sees every item read (the loop guard learns of replies)
}

func newResource[T, C, U any](c *Client, collection, idName string) resource[T, C, U] {
	return resource[T, C, U]{client: c, path: collection, idName: idName}
}

func (r *resource[T, C, U]) check() error {
	if r.err != nil {
		return r.err
	}
	if r.client == nil {
		return argError("service", "not initialised: use the services of a Client made by NewClient")
	}
	return nil
}

// checkQuery applies the query's own errors and the collection's mandatory
// filter rules.
func (r *resource[T, C, U]) checkQuery(q *Query) error {
	if err := r.check(); err != nil {
		return err
	}
	return checkCollectionQuery(r.path, q)
}

func (r *resource[T, C, U]) seen(items ...*T) {
	if r.observe != nil && len(items) > 0 {
		r.observe(items)
	}
}

func (r *resource[T, C, U]) list(ctx context.Context, q *Query) (_ []*T, _ *Response, err error) {
	ctx, call := r.client.startCall(ctx, r.path, "List") // observer.go
	defer call.end(ctx, &err)
	if err := r.checkQuery(q); err != nil {
		return nil, nil, err
	}
	items, resp, err := listPage[T](ctx, r.client, call, r.path, q)
	if err == nil {
		r.seen(items...)
	}
	return items, resp, err
}

func (r *resource[T, C, U]) listIter(ctx context.Context, q *Query) iter.Seq2[*T, error] {
	return r.walk(ctx, q, nil).Items()
}

// walk checks like list, before any I/O, and returns the walk over every
// matching item (pagination_walk.go).
func (r *resource[T, C, U]) walk(ctx context.Context, q *Query, opts []WalkOption) *Walk[T] {
	if err := r.checkQuery(q); err != nil {
		return errWalk[T](err)
	}
	if ctx == nil {
		return errWalk[T](argError("ctx", "nil context"))
	}
	if r.client.obs != nil {
		return observedWalk(ctx, r, q, opts) // observer.go
	}
	return newWalk(ctx, r.client, nil, r.path, q, opts, r.observe)
}

func (r *resource[T, C, U]) get(ctx context.Context, id string, q *Query) (_ *T, _ *Response, err error) {
	ctx, call := r.client.startCall(ctx, r.path, "Get")
	defer call.end(ctx, &err)
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	path, err := itemPath(r.path, r.idName, id)
	if err != nil {
		return nil, nil, err
	}
	if path, err = withQuery(path, q); err != nil {
		return nil, nil, err
	}
	v, resp, err := doJSON[T](ctx, r.client, call, nil, http.MethodGet, path, nil)
	if err == nil {
		r.seen(v)
	}
	return v, resp, err
}

func (r *resource[T, C, U]) create(ctx context.Context, body *C) (_ *T, _ *Response, err error) {
	ctx, call := r.client.startCall(ctx, r.path, "Create")
	defer call.end(ctx, &err)
	return r.createIn(ctx, call, body, nil)
}

// createIn is create as part of call, a call its caller began
// (Conversations.Create); track, when set, makes the POST a tracked one (see
// deliveryCall).
func (r *resource[T, C, U]) createIn(ctx context.Context, call *obsCall, body *C, track *deliveryCall) (*T, *Response, error) {
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	if err := checkBody(body); err != nil {
		return nil, nil, err
	}
	return sendBody[T](ctx, r.client, call, track, http.MethodPost, r.path, body)
}

func (r *resource[T, C, U]) update(ctx context.Context, id string, body *U) (*T, *Response, error) {
	return r.write(ctx, http.MethodPatch, id, body, checkBody(body))
}

// write sends body to one item with method (PATCH, or PUT for a replace).
// bodyErr is the caller's verdict on body, reported after the ID's.
func (r *resource[T, C, U]) write(ctx context.Context, method, id string, body any, bodyErr error) (_ *T, _ *Response, err error) {
	ctx, call := r.client.startCall(ctx, r.path, writeOp(method))
	defer call.end(ctx, &err)
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	path, err := itemPath(r.path, r.idName, id)
	if err != nil {
		return nil, nil, err
	}
	if bodyErr != nil {
		return nil, nil, bodyErr
	}
	return sendBody[T](ctx, r.client, call, nil, method, path, body)
}

func (r *resource[T, C, U]) delete(ctx context.Context, id string) (_ *Response, err error) {
	ctx, call := r.client.startCall(ctx, r.path, "Delete")
	defer call.end(ctx, &err)
	if err := r.check(); err != nil {
		return nil, err
	}
	path, err := itemPath(r.path, r.idName, id)
	if err != nil {
		return nil, err
	}
	req, err := r.client.NewRequest(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return nil, err
	}
	return r.client.do(req, nil, call, nil)
}

// itemPath joins a collection and an ID after checking the ID.
func itemPath(collection, idName, id string) (string, error) {
	if err := checkID(idName, id); err != nil {
		return "", err
	}
	return collection + "/" + id, nil
}

// withQuery appends the encoded query to a path.
func withQuery(path string, q *Query) (string, error) {
	if q == nil {
		return path, nil
	}
	enc, err := q.Encode()
	if err != nil {
		return "", err
	}
	if enc == "" {
		return path, nil
	}
	return path + "?" + enc, nil
}

// listPage reads one page of a collection, as part of call (the observed
// call, nil without an observer).
func listPage[T any](ctx context.Context, c *Client, call *obsCall, collection string, q *Query) ([]*T, *Response, error) {
	path, err := withQuery(collection, q)
	if err != nil {
		return nil, nil, err
	}
	req, err := c.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, nil, err
	}
	var items []*T
	resp, err := c.do(req, &items, call, nil)
	if err != nil {
		return nil, resp, err
	}
	for i, it := range items {
		if it == nil {
			return nil, resp, fmt.Errorf("%w: GET %s: item %d of the page is null", ErrInvalidResponse, collection, i)
		}
	}
	return items, resp, nil
}

// doJSON sends one request and decodes its answer into a T, as part of call
// (the observed call, nil without an observer); track, when set, makes it a
// tracked message POST (see deliveryCall).
func doJSON[T any](ctx context.Context, c *Client, call *obsCall, track *deliveryCall, method, path string, body any) (*T, *Response, error) {
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	resp, err := c.do(req, v, call, track)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

// checkBody refuses a nil body and lets a body check itself.
func checkBody[B any](body *B) error {
	if body == nil {
		return argError("body", "must not be nil")
	}
	if v, ok := any(body).(validator); ok {
		return v.validate()
	}
	return nil
}

// sendBody sends a create or update body and decodes the answer into a T. A
// *Document goes out byte for byte: encoding/json would compact its fields and
// escape HTML characters (article content is HTML), and a document's fields
// are meant to go back as they came. call and track as for doJSON.
func sendBody[T any](ctx context.Context, c *Client, call *obsCall, track *deliveryCall, method, path string, body any) (*T, *Response, error) {
	if doc, ok := body.(*Document); ok {
		raw, err := doc.MarshalJSON()
		if err != nil {
			return nil, nil, err
		}
		body = json.RawMessage(raw)
	}
	return doJSON[T](ctx, c, call, track, method, path, body)
}

// validator is implemented by request bodies that can refuse themselves
// before any I/O.
type validator interface{ validate() error }

func checkOptionalID(name, id string) error {
	if id == "" {
		return nil
	}
	return checkID(name, id)
}
