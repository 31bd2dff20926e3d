package chatshipper

import (
	"context"
	"iter"
	"net/http"
)

// The generic request shapes every resource shares. Services are thin: they
// validate, then call one of these; no resource has its own copy of them.

// collectionPath joins a collection and an ID after checking the ID.
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

func listPage[T any](ctx context.Context, c *Client, collection string, q *Query) ([]*T, *Response, error) {
	path, err := withQuery(collection, q)
	if err != nil {
		return nil, nil, err
	}
	req, err := c.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, nil, err
	}
	var items []*T
	resp, err := c.Do(req, &items)
	if err != nil {
		return nil, resp, err
	}
	return items, resp, nil
}

// listIter walks a collection (see newWalk). observe, if non-nil, sees each
// page (the loop guard learns of replies from it).
func listIter[T any](ctx context.Context, c *Client, collection string, q *Query, observe func([]*T)) iter.Seq2[*T, error] {
	return newWalk(ctx, c, collection, q, nil, observe).Items()
}

// errSeq is an iterator that yields one error and stops.
func errSeq[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}

func getOne[T any](ctx context.Context, c *Client, collection, idName, id string, q *Query) (*T, *Response, error) {
	path, err := itemPath(collection, idName, id)
	if err != nil {
		return nil, nil, err
	}
	if path, err = withQuery(path, q); err != nil {
		return nil, nil, err
	}
	return doJSON[T](ctx, c, http.MethodGet, path, nil)
}

func createOne[T any](ctx context.Context, c *Client, collection string, body any) (*T, *Response, error) {
	return doJSON[T](ctx, c, http.MethodPost, collection, body)
}

func updateOne[T any](ctx context.Context, c *Client, collection, idName, id string, body any) (*T, *Response, error) {
	path, err := itemPath(collection, idName, id)
	if err != nil {
		return nil, nil, err
	}
	return doJSON[T](ctx, c, http.MethodPatch, path, body)
}

func deleteOne(ctx context.Context, c *Client, collection, idName, id string) (*Response, error) {
	path, err := itemPath(collection, idName, id)
	if err != nil {
		return nil, err
	}
	req, err := c.NewRequest(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req, nil)
}

func doJSON[T any](ctx context.Context, c *Client, method, path string, body any) (*T, *Response, error) {
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	resp, err := c.Do(req, v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}
