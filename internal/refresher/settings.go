package refresher

import (
	"os"
	"strconv"

	"github.com/crosscloud-agentid/agentid/internal/config"
)

// Settings are token-refresher's settings; see docs/settings.md.
type Settings struct {
	TenantID                string
	AuthorityHost           string
	STSAppID                string
	STSAppURI               string
	ManagedIdentityClientID string
	TokenFile               string
	FileMode                os.FileMode
	HealthAddr              string // "" turns the health endpoint off
}

// DefaultTokenFile is where the Microsoft sample writes the token.
const DefaultTokenFile = "/azure-token/token"

// LoadSettings reads and checks every setting, reporting all problems.
func LoadSettings(r *config.Reader) Settings {
	s := Settings{
		TenantID:      r.GUID("TENANT_ID"),
		AuthorityHost: r.URL("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com", true),
		STSAppID:      r.GUID("STS_APP_ID"),
		TokenFile:     r.String("AWS_WEB_IDENTITY_TOKEN_FILE", DefaultTokenFile),
		HealthAddr:    r.StringOrOff("HEALTH_ADDR", ":8081"),
	}
	s.STSAppURI = r.String("STS_APP_URI", "api://"+s.STSAppID)
	if id := r.String("MANAGED_IDENTITY_CLIENT_ID", ""); id != "" {
		if !config.IsGUID(id) {
			r.Problem("MANAGED_IDENTITY_CLIENT_ID", "%q is not a client ID (GUID); leave it unset for a system-assigned identity", id)
		}
		s.ManagedIdentityClientID = id
	}
	s.FileMode = 0o600
	if m := r.String("TOKEN_FILE_MODE", ""); m != "" {
		n, err := strconv.ParseUint(m, 8, 32)
		switch {
		case err != nil || n > 0o777:
			r.Problem("TOKEN_FILE_MODE", "%q is not an octal file mode such as 0640", m)
		case n&0o133 != 0:
			r.Problem("TOKEN_FILE_MODE", "%s lets others write or execute the token file; use 0600, 0640 or 0644", m)
		case n&0o400 == 0:
			r.Problem("TOKEN_FILE_MODE", "%s does not let the owner read the token file", m)
		default:
			s.FileMode = os.FileMode(n)
		}
	}
	return s
}

// Expect is what the written token must be, for Check.
func (s Settings) Expect() Expect {
	return Expect{TenantID: s.TenantID, STSAppID: s.STSAppID, STSAppURI: s.STSAppURI}
}
