package chatshipper

import (
	_ "github.com/google/go-querystring/query"
	_ "github.com/hashicorp/go-retryablehttp"
)
