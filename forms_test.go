package chatshipper

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFixtureResourceForm(t *testing.T) {
	t.Parallel()
	f := decodeFixture[Form](t, "resources/form.json")
	f.Meta = canonical(f.Meta)
	assert.Equal(t, Form{
		ID:           resFormID,
		Name:         "Test drive",
		Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"),
		Fields: []FormField{
			{Name: "Model", Key: "model", Type: "text"},
			{Name: "Preferred date", Key: "date", Type: "date", Meta: Meta{"required": true}},
		},
		Meta:      obj(Meta{"init": "590c76bdde1b762f2113e900"}),
		CreatedAt: ts("2017-05-05T11:11:11.111Z"),
		UpdatedAt: ts("2017-05-06T11:11:11.111Z"),
	}, f)
}
