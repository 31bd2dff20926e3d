package chatshipper

import (
	_ "github.com/jarcoal/httpmock"
	_ "github.com/stretchr/testify/require"
)
