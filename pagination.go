package chatshipper

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Pagination is the list metadata of a response, read from headers. Every
// field is -1 when its header is absent or malformed, so 0 always means a
// real zero.
type Pagination struct {
	Total      int // X-Total: number of matching documents
	TotalPages int // X-Total-Pages
	Page       int // X-Page: 1-based page number
	PerPage    int // X-Per-Page: the limit the server applied

	// RangeStart and RangeEnd come from X-Range ("6-9"), as the server sends
	// them; both are -1 unless the header holds two numbers, start <= end.
	RangeStart, RangeEnd int

	// The offset= of each Link relation. A link without an offset parameter
	// means offset 0; an absent link, or one with a malformed offset, is -1.
	FirstOffset, PrevOffset, NextOffset, LastOffset int
}

// defaultPageLimit is the server's page size when no limit is sent (https://developers.chatshipper.com/docs/api-resource-sets).
const defaultPageLimit = 200

// ErrInvalidResponse is matched (through errors.Is) by the error for a 2xx
// answer the SDK cannot use: a list page holding null items, or pages that
// do not advance or would yield an item twice (a server that ignores the
// offset, a next link that rewinds, a page asked by key whose ids are not in
// increasing order after the last one yielded), or, in a walk that had to
// page by offset, a listing that changed under it ([ErrListingChanged]).
// Such answers end the call or the walk with this error instead of yielding
// garbage, duplicates or looping, or skipping items unseen.
var ErrInvalidResponse = errors.New("chatshipper: invalid response")

// ErrListingChanged is matched (through errors.Is) by the error that ends a
// walk by offset which the SDK chose because the server does not page by key
// (see [Walk.Pages]), when the list headers show that the listing changed
// under it in a way that can shift items past the walk unseen: the X-Total of
// a page lower than that of the page before (a page fetched with
// [Concurrency]: different from the first page's). None of the items of that
// page is yielded. Walk again: the walk starts over where the listing now
// begins. The error also matches [ErrInvalidResponse].
var ErrListingChanged = fmt.Errorf("%w: the listing changed during a walk by offset", ErrInvalidResponse)

// errPageNoProgress is wrapped when pages would repeat or rewind.
var errPageNoProgress = fmt.Errorf("%w: pagination does not advance", ErrInvalidResponse)

// errPageOrder is wrapped when a page asked by key is not in increasing id
// order after the last id yielded.
var errPageOrder = fmt.Errorf("%w: page out of id order", ErrInvalidResponse)

// parsePagination reads the X-* pagination headers and the Link header.
func parsePagination(h http.Header) Pagination {
	p := Pagination{
		Total:      parsePageCount(h.Get("X-Total")),
		TotalPages: parsePageCount(h.Get("X-Total-Pages")),
		Page:       parsePageCount(h.Get("X-Page")),
		PerPage:    parsePageCount(h.Get("X-Per-Page")),
	}
	p.RangeStart, p.RangeEnd = parsePageRange(h.Get("X-Range"))
	links := parseLinkHeader(h.Values("Link"))
	p.FirstOffset = linkOffset(links, "first")
	p.PrevOffset = linkOffset(links, "prev")
	p.NextOffset = linkOffset(links, "next")
	p.LastOffset = linkOffset(links, "last")
	return p
}

// parsePageCount reads a non-negative decimal header value, or -1.
func parsePageCount(s string) int {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '+' || s[0] == '-' {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// parsePageRange reads X-Range "start-end"; both are -1 unless the value is
// two non-negative numbers with start <= end.
func parsePageRange(s string) (start, end int) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return -1, -1
	}
	start, end = parsePageCount(a), parsePageCount(b)
	if start < 0 || end < 0 || start > end {
		return -1, -1
	}
	return start, end
}

// linkOffset is the offset= of the link with relation rel: -1 when there is
// no such link or its offset is malformed, 0 when it has none.
func linkOffset(links map[string]url.Values, rel string) int {
	q, ok := links[rel]
	if !ok {
		return -1
	}
	vs, ok := q["offset"]
	if !ok || len(vs) == 0 {
		return 0
	}
	return parsePageCount(vs[0])
}

// linkRels are the only relations the SDK reads; any other is ignored.
var linkRels = [...]string{"first", "prev", "next", "last"}

// parseLinkHeader reads RFC 8288 Link header values into the query
// parameters of the relations first, prev, next and last (lower-cased; any
// other relation is dropped). Only the query part of a link target is kept:
// the host and path are not trusted (the API's own example has a broken
// host), and the caller re-sends its request to its own base URL. It accepts
// several header values, links spread over several lines, several relations
// in one rel ("next last"), quoted or bare rel values and stray whitespace;
// for a relation given twice the first link wins. Garbage is skipped, never
// fatal.
//
// It runs in time linear in the header's size: every byte is scanned once,
// and a link target's query is parsed at most once per link and only when
// the link names a wanted relation not seen before, so at most four times in
// all, however many relations a hostile server lists.
func parseLinkHeader(values []string) map[string]url.Values {
	links := make(map[string]url.Values, len(linkRels))
	for _, s := range values {
		parseLinkValue(s, links)
	}
	return links
}

func parseLinkValue(s string, links map[string]url.Values) {
	i := 0
	for len(links) < len(linkRels) {
		// Find the next "<target>"; anything before it is noise.
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			return
		}
		i += lt + 1
		gt := strings.IndexByte(s[i:], '>')
		if gt < 0 {
			return
		}
		target := s[i : i+gt]
		i += gt + 1

		var rel string
		haveRel := false
		// Parameters run until the comma that ends this link-value.
		for i < len(s) {
			i = skipLinkSpace(s, i)
			if i >= len(s) {
				break
			}
			if s[i] == ',' {
				i++
				break
			}
			if s[i] != ';' {
				if s[i] == '<' {
					break // a new link without a separating comma
				}
				i++
				continue
			}
			i = skipLinkSpace(s, i+1)
			nameStart := i
			for i < len(s) && !strings.ContainsRune("=;, \t\r\n", rune(s[i])) {
				i++
			}
			name := s[nameStart:i]
			i = skipLinkSpace(s, i)
			if i >= len(s) || s[i] != '=' {
				continue
			}
			var value string
			value, i = readLinkParamValue(s, skipLinkSpace(s, i+1))
			if !haveRel && strings.EqualFold(name, "rel") {
				rel, haveRel = value, true
			}
		}
		var query url.Values // parsed on first use, once per link
		for _, r := range strings.Fields(rel) {
			r = strings.ToLower(r)
			if !slices.Contains(linkRels[:], r) {
				continue
			}
			if _, seen := links[r]; seen {
				continue
			}
			if query == nil {
				query = linkTargetQuery(target)
			}
			links[r] = query
		}
	}
}

func skipLinkSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// readLinkParamValue reads a quoted string (with backslash escapes) or a
// token starting at i, returning it and the index after it.
func readLinkParamValue(s string, i int) (string, int) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		i++
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s):
				b.WriteByte(s[i+1])
				i += 2
			case c == '"':
				return b.String(), i + 1
			default:
				b.WriteByte(c)
				i++
			}
		}
		return b.String(), i
	}
	start := i
	for i < len(s) && !strings.ContainsRune(";, \t\r\n", rune(s[i])) {
		i++
	}
	return s[start:i], i
}

// linkTargetQuery returns the query parameters of a link target without
// parsing the rest of it, so a malformed host or path does not matter.
func linkTargetQuery(target string) url.Values {
	_, rawQuery, _ := strings.Cut(target, "?")
	rawQuery, _, _ = strings.Cut(rawQuery, "#")
	// ParseQuery keeps what it could read when part of the query is bad.
	q, _ := url.ParseQuery(strings.TrimSpace(rawQuery))
	return q
}
