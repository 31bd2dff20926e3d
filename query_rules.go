package chatshipper

import (
	"slices"
	"strings"
)

// queryMessagesRequired are the filters of which the server needs at least
// one to list messages (https://developers.chatshipper.com/docs/api-resource-sets,
// "Mandatory Query Parameters").
var queryMessagesRequired = []string{"id", "organization", "conversation", "type", "role", "createdAt"}

// queryConversationsMetaRequired are the filters of which the server needs
// at least one when conversations are searched by a meta.* field.
var queryConversationsMetaRequired = []string{
	"id", "type", "participants.user", "status", "createdAt",
	"categoryIndex", "category", "organization", "updatedAt",
}

// hasAnyKey reports whether one of keys is filtered directly. OR groups do
// not count: the server checks the literal parameter names.
func (q *Query) hasAnyKey(keys []string) bool {
	return slices.ContainsFunc(keys, q.hasKey)
}

// validateMessages checks a query for GET /messages, which the server
// refuses unless it filters on one of id, organization, conversation, type,
// role or createdAt. Whether an OR group naming one of them satisfies the
// server is not documented, so only direct filters count (the tolerant
// choice: refuse before I/O rather than risk a 4xx).
func (q *Query) validateMessages() error {
	if err := q.Err(); err != nil {
		return err
	}
	if !q.hasAnyKey(queryMessagesRequired) {
		return &QueryError{Field: "", Reason: "listing messages needs a filter on one of " + strings.Join(queryMessagesRequired, ", ")}
	}
	return nil
}

// validateConversations checks a query for GET /conversations: a filter on
// a meta.* field needs a filter on one of the indexed fields as well.
func (q *Query) validateConversations() error {
	if err := q.Err(); err != nil {
		return err
	}
	if q == nil {
		return nil
	}
	for _, f := range q.filters {
		for _, field := range f.fields {
			if field == "meta" || strings.HasPrefix(field, "meta.") {
				if !q.hasAnyKey(queryConversationsMetaRequired) {
					return &QueryError{Field: f.key, Reason: "a meta filter needs a filter on one of " + strings.Join(queryConversationsMetaRequired, ", ")}
				}
				return nil
			}
		}
	}
	return nil
}

// checkCollectionQuery applies the query's own errors and the mandatory
// filter rules of the collection it is sent to, whichever service sends it.
func checkCollectionQuery(collection string, q *Query) error {
	switch collection {
	case "messages":
		return q.validateMessages()
	case "conversations":
		return q.validateConversations()
	}
	return q.Err()
}
