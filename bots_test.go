package chatshipper

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFixtureResourceBots(t *testing.T) {
	t.Parallel()
	b := decodeFixture[Bot](t, "resources/bot.json")
	b.Meta = canonical(b.Meta)
	assert.Equal(t, Bot{ID: resBotID, Name: "Review bot", Organization: NewRef[Organization](resOrgID), Enabled: true,
		Status: BotActive, Meta: obj(Meta{"consumerFacing": true, "audience": "suborgs"}),
		CreatedAt: ts("2021-03-01T08:00:00.000Z"), UpdatedAt: ts("2021-03-02T08:00:00.000Z")}, b)

	bi := decodeFixture[BotInstance](t, "resources/botinstance.json")
	bi.Meta = canonical(bi.Meta)
	assert.Equal(t, BotInstance{
		ID:           "6040f0c2a1b2c3d4e5f60718",
		Bot:          Ref[Bot]{ID: resBotID, Value: &Bot{ID: resBotID, Name: "Review bot", Enabled: true, Status: BotActive}},
		Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"),
		OrgPath:      "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#5917f2e1a4c63e0011ddaee3",
		Enabled:      true,
		Status:       BotActive,
		Meta:         obj(Meta{"greeting": "Hi there!", "reviewForm": resFormID}),
		CreatedAt:    ts("2021-03-04T10:20:30.000Z"),
		UpdatedAt:    ts("2021-03-05T10:20:30.000Z"),
	}, bi)
}
