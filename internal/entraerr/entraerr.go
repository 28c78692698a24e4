// Package entraerr reads the error answers of Entra's token endpoint (and
// the managed identity endpoint) out of MSAL Go errors, so callers decide by
// status and AADSTS code, never by matching text.
package entraerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// Info is what an Entra error answer says.
type Info struct {
	Status        int
	Error         string // OAuth error: invalid_client, invalid_grant, …
	Codes         []int  // AADSTS codes
	Description   string // first line of error_description ("AADSTS…: …")
	CorrelationID string
}

// Code is the first AADSTS code, or 0.
func (i Info) Code() int {
	if len(i.Codes) == 0 {
		return 0
	}
	return i.Codes[0]
}

// Transient reports whether retrying soon may succeed.
func (i Info) Transient() bool {
	return i.Status >= 500 || i.Status == http.StatusTooManyRequests ||
		i.Error == "temporarily_unavailable" || i.Error == "server_error"
}

// Summary is one line: the description, or the status and OAuth error.
func (i Info) Summary() string {
	if i.Description != "" {
		return i.Description
	}
	s := fmt.Sprintf("HTTP %d", i.Status)
	if i.Error != "" {
		s += " " + i.Error
	}
	return s
}

// From finds an HTTP error answer in err (an MSAL CallErr), if there is one.
func From(err error) (Info, bool) {
	var call msalerrors.CallErr
	if !errors.As(err, &call) || call.Resp == nil {
		return Info{}, false
	}
	info := Info{Status: call.Resp.StatusCode}
	if call.Resp.Body != nil {
		// MSAL keeps the body readable after reading it once.
		raw, _ := io.ReadAll(io.LimitReader(call.Resp.Body, 64<<10))
		var body struct {
			Error         string `json:"error"`
			Description   string `json:"error_description"`
			Codes         []int  `json:"error_codes"`
			CorrelationID string `json:"correlation_id"`
		}
		if json.Unmarshal(raw, &body) == nil {
			info.Error, info.Codes, info.CorrelationID = body.Error, body.Codes, body.CorrelationID
			info.Description = FirstLine(body.Description)
		}
	}
	return info, true
}

// FirstLine is s up to its first line break, trimmed: Entra descriptions
// continue with trace and correlation lines.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(strings.TrimSuffix(line, "\r"))
}
