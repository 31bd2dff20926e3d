package replay_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/chatshippertest/replay"
)

// The fake server stands in for a real account: record against it, stop it,
// replay the same calls from the fixture files, then see a changed request
// fail with the closest recording named. A test would use replay.New, which
// chooses between recording and replaying by the -chatshipper.record flag.
func Example() {
	if err := recordAndReplay(); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// recorded [0001-GET-users.json 0002-POST-contacts.json]
	// replayed: 2 of 5 users, first admin@acme.test; contact Ada Lovelace
	// changed request: closest 0002-POST-contacts.json, [body.profile.name: got "Ada King", recorded "Ada Lovelace"]
}

// calls is the code under test.
func calls(ctx context.Context, c *chatshipper.Client, org, name string) (string, error) {
	users, resp, err := c.Users.List(ctx, chatshipper.NewQuery().Sort("email").Limit(2))
	if err != nil {
		return "", err
	}
	contact, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{Organization: org,
		Profile: chatshipper.ContactProfile{Name: name}})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d of %d users, first %s; contact %s", len(users), resp.Total, users[0].Email, contact.Profile.Name), nil
}

func recordAndReplay() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fixtures")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Record.
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	rec, err := replay.NewRecorder(dir)
	if err != nil {
		return err
	}
	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(rec.Client()))
	if err != nil {
		return err
	}
	org := srv.Seed.OrganizationID
	if _, err := calls(ctx, c, org, "Ada Lovelace"); err != nil {
		return err
	}
	fmt.Println("recorded", rec.Files())
	srv.Close()

	// Replay, with the server gone and another base URL.
	rep, err := replay.NewReplayer(dir)
	if err != nil {
		return err
	}
	c, err = chatshipper.NewClient("replayed", chatshipper.WithHTTPClient(rep.Client()))
	if err != nil {
		return err
	}
	got, err := calls(ctx, c, org, "Ada Lovelace")
	if err != nil {
		return err
	}
	fmt.Println("replayed:", got)

	// A request that was not recorded.
	rep, err = replay.NewReplayer(dir)
	if err != nil {
		return err
	}
	c, err = chatshipper.NewClient("replayed", chatshipper.WithHTTPClient(rep.Client()))
	if err != nil {
		return err
	}
	_, err = calls(ctx, c, org, "Ada King")
	var nf *replay.NoFixtureError
	if errors.As(err, &nf) {
		fmt.Printf("changed request: closest %s, %v\n", nf.Closest, nf.Differences)
		return nil
	}
	return fmt.Errorf("want a *replay.NoFixtureError, got %v", err)
}
