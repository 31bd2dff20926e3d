package chatshipper_test

import (
	"context"
	"fmt"
	"log"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// A job that closes every queued conversation: each one leaves the query as
// the loop handles it, and the walk still visits all of them, showing its
// progress from X-Total.
func ExampleConversationsService_Walk() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	for i := range 5 {
		srv.Put("conversations", map[string]any{
			"organization": srv.Seed.OrganizationID, "type": "contact", "status": "queued",
			"name": fmt.Sprintf("Billing %d", i),
		})
	}
	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	q := chatshipper.NewQuery().Where("status", chatshipper.Eq(chatshipper.StatusQueued)).Limit(2)
	w := c.Conversations.Walk(ctx, q)
	for conv, err := range w.Items() {
		if err != nil {
			log.Fatal(err)
		}
		if _, _, err := c.Conversations.Command(ctx, conv.ID, chatshipper.Close()); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d of %d (page %d): closed %s\n", w.Count(), w.Total(), w.Page(), conv.Name)
	}
	// Output:
	// 1 of 5 (page 1): closed Billing 0
	// 2 of 5 (page 1): closed Billing 1
	// 3 of 5 (page 2): closed Billing 2
	// 4 of 5 (page 2): closed Billing 3
	// 5 of 5 (page 3): closed Billing 4
}

// Pages yields each page of a walk with its *Response, for a caller that works
// page by page or wants the list headers.
func ExampleWalk_Pages() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	for i := range 5 {
		srv.Put("contacts", map[string]any{
			"organization": srv.Seed.OrganizationID, "profile": map[string]any{"name": fmt.Sprintf("Contact %d", i)},
			"meta": map[string]any{"list": "newsletter"},
		})
	}
	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	q := chatshipper.NewQuery().Where("meta.list", chatshipper.Eq("newsletter")).Limit(2)
	for page, err := range c.Contacts.Walk(context.Background(), q).Pages() {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("page %d: %d contacts from #%d of %d (status %d)\n",
			page.Number, len(page.Items), page.Start+1, page.Total, page.Response.StatusCode)
	}
	// Output:
	// page 1: 2 contacts from #1 of 5 (status 200)
	// page 2: 2 contacts from #3 of 5 (status 200)
	// page 3: 1 contacts from #5 of 5 (status 200)
}
