package chatshipper

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFixtureResourceOrganization(t *testing.T) {
	t.Parallel()
	o := decodeFixture[Organization](t, "resources/organization.json")
	o.Meta = canonical(o.Meta)
	leeds := "5917f2e1a4c63e0011ddaee3"
	path := "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#" + leeds
	assert.Equal(t, Organization{
		ID:          leeds,
		Name:        "acme-cars-leeds",
		DisplayName: "Acme Cars Leeds",
		Email:       "leeds@acme-cars.example",
		URL:         "https://acme-cars.example/leeds",
		Country:     "GB",
		Logo:        "https://storage.googleapis.com/cs2-uploads/logos/acme.png",
		Industry:    "automotive",
		Status:      OrganizationActive,
		Stopwords:   []string{"unsubscribe", "stop"},
		Categories: []Category{
			{Name: "Sales", Forms: []Ref[Form]{{ID: resFormID, Value: &Form{ID: resFormID, Name: "Test drive",
				Organization: NewRef[Organization](leeds), Fields: []FormField{{Name: "Model", Key: "model"}}}}}},
			{Name: "Service", Forms: []Ref[Form]{NewRef[Form]("590c76bdde1b762f2113e81d")}},
		},
		Parent:    NewRef[Organization](resOrgID),
		Path:      path,
		OrgPath:   path,
		Level:     OrgLevelSub,
		Tags:      []string{"dealer", "north"},
		Commands:  json.RawMessage(`[{"name":"lookup","description":"Look up a vehicle"}]`),
		Meta:      obj(Meta{"region": "north"}),
		CreatedAt: ts("2017-05-14T06:00:01.000Z"),
		UpdatedAt: ts("2019-01-02T03:04:05.006Z"),
	}, o)
	assert.Equal(t, []string{"563f1bd1b8a9ce1e0b9b6b6d", resOrgID, leeds}, o.PathIDs())
	assert.Equal(t, []string{"a", "b"}, (&Organization{OrgPath: "a#b"}).PathIDs())
	assert.Nil(t, (&Organization{}).PathIDs())
}
