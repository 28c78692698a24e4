package agentcoreid

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The constraints of botocore 1.43.11's models (bedrock-agentcore-control
// 2023-06-05 and bedrock-agentcore 2024-02-28, service-2.json, read
// 2026-12-06) that cloudsim checks. A field's length is checked before its
// pattern, as the IAM emulation does, so one field gets one message.
// Smithy patterns are not anchored, but AWS refuses a name with a bad
// character anywhere ("Member must satisfy regular expression pattern"),
// so cloudsim matches the whole value.
var (
	workloadNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)                                 // WorkloadIdentityNameType, 3–255
	providerNamePattern = regexp.MustCompile(`^[a-zA-Z0-9\-_]+$`)                                 // CredentialProviderName, 1–128
	returnURLPattern    = regexp.MustCompile(`^\w+:(\/?\/?)[^\s]+$`)                              // ResourceOauth2ReturnUrlType, 1–2048
	tagPattern          = regexp.MustCompile(`^[a-zA-Z0-9\s._:/=+@-]*$`)                          // TagKey 1–128, TagValue 0–256
	userTokenPattern    = regexp.MustCompile(`^[A-Za-z0-9-_=]+.[A-Za-z0-9-_=]+.[A-Za-z0-9-_=]+$`) // UserTokenType, 1–131072
	requestURIPattern   = regexp.MustCompile(`^urn:ietf:params:oauth:request_uri:[a-zA-Z0-9-._~]+$`)
	customKeyPattern    = regexp.MustCompile(`^[a-zA-Z0-9\-_\.]+$`) // CustomRequestKeyType, 1–256
)

// Model lengths.
const (
	minWorkloadName, maxWorkloadName = 3, 255
	maxProviderName                  = 128
	maxReturnURL                     = 2048
	maxTags, maxTagKey, maxTagValue  = 50, 128, 256
	maxToken                         = 131072 // WorkloadIdentityTokenType, UserTokenType
	maxUserID                        = 128
	maxClientID, maxClientSecret     = 256, 2048
	maxTenantID                      = 2048
	maxScope                         = 128
	maxRequestURI                    = 1024
	maxCustomKey, maxCustomValue     = 256, 2048
	maxCustomState                   = 4096
	maxListResults                   = 20
)

// fieldError is one entry of a ValidationException's fieldList.
type fieldError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// checker collects a request's constraint failures, in field order, as
// AWS reports them all at once ("2 validation errors detected: …").
type checker struct {
	errs []fieldError
	// shown are the messages with the value quoted, for the message text.
	shown []string
}

func (c *checker) fail(field, value string, sensitive bool, constraint string) {
	c.errs = append(c.errs, fieldError{Name: field, Message: constraint})
	v := "Value"
	if !sensitive {
		v = fmt.Sprintf("Value '%s'", value)
	}
	c.shown = append(c.shown, fmt.Sprintf("%s at '%s' failed to satisfy constraint: %s", v, field, constraint))
}

func (c *checker) missing(field string) {
	c.errs = append(c.errs, fieldError{Name: field, Message: "Member must not be null"})
	c.shown = append(c.shown, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", field))
}

// str checks an optional string (nil: absent) against its shape: length
// in characters, then pattern (nil: none).
func (c *checker) str(field string, v *string, required bool, min, max int, pattern *regexp.Regexp, sensitive bool) {
	if v == nil {
		if required {
			c.missing(field)
		}
		return
	}
	n := utf8.RuneCountInString(*v)
	switch {
	case n < min:
		c.fail(field, *v, sensitive, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	case max > 0 && n > max:
		c.fail(field, *v, sensitive, fmt.Sprintf("Member must have length less than or equal to %d", max))
	case pattern != nil && !pattern.MatchString(*v):
		c.fail(field, *v, sensitive, "Member must satisfy regular expression pattern: "+strings.Trim(pattern.String(), "^$"))
	}
}

func (c *checker) tags(tags map[string]string) {
	if len(tags) > maxTags {
		c.fail("tags", fmt.Sprint(len(tags)), true, fmt.Sprintf("Member must have length less than or equal to %d", maxTags))
		return
	}
	for k, v := range tags {
		c.str("tags.key", &k, true, 1, maxTagKey, tagPattern, false)
		c.str("tags."+k, &v, true, 0, maxTagValue, tagPattern, false)
	}
}

func (c *checker) returnURLs(field string, urls []string) {
	for i, u := range urls {
		c.str(fmt.Sprintf("%s.%d.member", field, i+1), &u, true, 1, maxReturnURL, returnURLPattern, false)
	}
}

func (c *checker) maxResults(v *int) {
	if v != nil && (*v < 1 || *v > maxListResults) {
		constraint := "Member must have value less than or equal to 20"
		if *v < 1 {
			constraint = "Member must have value greater than or equal to 1"
		}
		c.fail("maxResults", fmt.Sprint(*v), false, constraint)
	}
}

// err is the ValidationException for what failed, or nil.
func (c *checker) err() *apiError {
	if len(c.errs) == 0 {
		return nil
	}
	noun := "error"
	if len(c.errs) > 1 {
		noun = "errors"
	}
	return &apiError{status: http.StatusBadRequest, code: "ValidationException", reason: "FieldValidationFailed", fields: c.errs,
		msg: fmt.Sprintf("%d validation %s detected: %s", len(c.errs), noun, strings.Join(c.shown, "; "))}
}

// invalid is a ValidationException about one field, in cloudsim's words.
func invalid(field, message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationException", reason: "FieldValidationFailed", msg: message,
		fields: []fieldError{{Name: field, Message: message}}}
}
