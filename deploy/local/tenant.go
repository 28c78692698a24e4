// Package local ships cloudsim's default tenant file inside the cloudsim
// binary, so a built binary or image runs with no file beside it. Pass
// cloudsim -tenant to use an edited copy.
package local

import _ "embed"

// TenantFile is deploy/local/tenant.jsonc as it was at build time.
//
//go:embed tenant.jsonc
var TenantFile []byte

// FreshTenantFile is deploy/local/fresh-tenant.jsonc: a new tenant with
// people and roles but no agent, for rehearsing scripts/entra-setup.sh.
//
//go:embed fresh-tenant.jsonc
var FreshTenantFile []byte
