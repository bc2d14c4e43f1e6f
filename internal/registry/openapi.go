package registry

import _ "embed"

// OpenAPI is the API description (OpenAPI 3.0, YAML), served at /v1/openapi.yaml.
// A test checks that it describes every route the server has.
//
//go:embed openapi.yaml
var OpenAPI []byte
