package cloudsim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
)

// AWS_ENDPOINT_URL sends every AWS service to one URL, cloudsim's root.
// There STS and IAM answer as at their own paths, AgentCore Identity's
// operations are served where they always are (/identities/…), and every
// other service or operation (S3, ECR, CloudFormation, AgentCore's
// runtime operations, …) is refused with the
// unknown-operation error of its protocol, so a script pointed at cloudsim
// never reaches AWS and never mistakes silence for success.

// scopeService is the service of a SigV4 Authorization header's scope.
var scopeService = regexp.MustCompile(`Credential=[^/,]+/[0-9]{8}/[^/,]+/([^/,]+)/aws4_request`)

// awsRoot answers an AWS request that reached a path no service serves. It
// reports false for a request that is not an AWS API call.
func awsRoot(w http.ResponseWriter, r *http.Request, sts, iam http.Handler) bool {
	service := ""
	if m := scopeService.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		service = m[1]
	}
	target := r.Header.Get("X-Amz-Target")
	var form url.Values
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mediaType == "application/x-www-form-urlencoded" {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ = url.ParseQuery(string(body))
	}
	if service == "" && target == "" && form.Get("Action") == "" {
		return false
	}
	switch {
	case r.URL.Path == "/" && sts != nil && (service == "sts" || service == "" && form.Get("Version") == "2011-06-15"):
		sts.ServeHTTP(w, r)
		return true
	case r.URL.Path == "/" && iam != nil && service == "iam":
		iam.ServeHTTP(w, r)
		return true
	}
	message := "cloudsim does not emulate this AWS service (" + service + "); nothing left this machine"
	requestID := awsquery.NewRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	switch {
	case form.Get("Action") != "":
		// The query protocol's answer to an operation it lacks.
		awsquery.WriteError(w, "", requestID, awsquery.Errorf(http.StatusBadRequest, "InvalidAction",
			"Could not find operation %s for version %s: %s", form.Get("Action"), form.Get("Version"), message))
	case service == "s3":
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		out, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"Error"`
			Code    string   `xml:"Code"`
			Message string   `xml:"Message"`
		}{Code: "UnknownOperationException", Message: message})
		w.Write(out)
	default:
		// JSON and REST-JSON services name the error in x-amzn-ErrorType
		// and __type, as botocore reads them.
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-ErrorType", "UnknownOperationException")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": "UnknownOperationException", "message": message})
	}
	return true
}
