package refresher

import (
	"errors"
	"fmt"
	"strings"

	"github.com/crosscloud-agentid/agentid/internal/entraerr"
)

// Failure is a failed refresh, told apart by the error's code, never its
// text: Permanent ones (a wrong setting, an untrusted credential) need an
// admin, or a new credential's replication; transient ones (network, 5xx,
// temporarily_unavailable) heal by themselves.
type Failure struct {
	Permanent bool
	Summary   string // one line, no token, naming the fix when known
	// Cause tells one failure from another when the Summary alone would
	// not: Entra's descriptions carry a new trace ID and time every time.
	// Empty means the Summary.
	Cause string
	Err   error
}

// cause is what makes two failures the same.
func (f *Failure) cause() string {
	if f.Cause != "" {
		return f.Cause
	}
	return f.Summary
}

func (f *Failure) Error() string { return f.Summary }
func (f *Failure) Unwrap() error { return f.Err }

// hints name the setting behind an AADSTS code the STS app's request can
// meet.
var hints = map[int]string{
	90002:   "check TENANT_ID",
	700016:  "check STS_APP_ID and TENANT_ID",
	500011:  "check STS_APP_URI",
	70011:   "check STS_APP_URI",
	700211:  "the STS app's federated credential must have the managed identity token's issuer (https://login.microsoftonline.com/<TENANT_ID>/v2.0); one added minutes ago may still be replicating",
	700212:  "the STS app's federated credential must have the audience api://AzureADTokenExchange",
	700213:  "the STS app's federated credential must have the managed identity's object ID as its subject (check MANAGED_IDENTITY_CLIENT_ID); one added minutes ago may still be replicating",
	700222:  "the client assertion must be the managed identity's token",
	700024:  "the managed identity token expired; check this host's clock",
	7000215: "the STS app takes the managed identity's token, not a secret",
}

// Classify turns a refresh error into a Failure.
func Classify(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if errorsAsCheck(err) {
		return &Failure{Permanent: true, Summary: err.Error(), Err: err}
	}
	if info, ok := entraerr.From(err); ok {
		summary := info.Summary()
		for _, code := range info.Codes {
			if hint, ok := hints[code]; ok {
				summary += " (" + hint + ")"
				break
			}
		}
		cause := fmt.Sprintf("HTTP %d %s AADSTS%v", info.Status, info.Error, info.Codes)
		return &Failure{Permanent: !info.Transient(), Summary: summary, Cause: cause, Err: err}
	}
	// No answer at all: DNS, refused connection, TLS, timeout.
	return &Failure{Summary: "no answer: " + lastLine(err.Error()), Err: err}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}
