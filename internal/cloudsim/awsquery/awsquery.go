// Package awsquery is what cloudsim's STS and IAM share of the AWS query
// protocol: its error shape and codes, the answer to a refused signature,
// and request IDs. Shapes follow botocore's query protocol parser: an
// ErrorResponse with Error/Type, Code and Message, and a RequestId.
package awsquery

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sigv4"
)

// Error is an API error: its HTTP status, code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf is an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{status, code, fmt.Sprintf(format, args...)}
}

// SignatureError is how a query service answers a refused SigV4
// signature.
func SignatureError(r *sigv4.Refusal) *Error {
	switch r.Failure {
	case sigv4.Missing:
		return &Error{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	case sigv4.BadCredential, sigv4.NoDate:
		return &Error{http.StatusBadRequest, "IncompleteSignature", r.Message}
	case sigv4.UnknownKey:
		return &Error{http.StatusForbidden, "InvalidClientTokenId", r.Message}
	case sigv4.Expired:
		return &Error{http.StatusForbidden, "ExpiredToken", r.Message}
	default:
		return &Error{http.StatusForbidden, "SignatureDoesNotMatch", r.Message}
	}
}

type errorResponse struct {
	XMLName xml.Name
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// WriteError answers e in the service's XML namespace: Type is Sender
// for a client's fault, Receiver for the service's.
func WriteError(w http.ResponseWriter, namespace, requestID string, e *Error) {
	body := errorResponse{XMLName: xml.Name{Space: namespace, Local: "ErrorResponse"}, RequestID: requestID}
	body.Error.Type = "Sender"
	if e.Status >= 500 {
		body.Error.Type = "Receiver"
	}
	body.Error.Code, body.Error.Message = e.Code, e.Message
	WriteXML(w, e.Status, requestID, body)
}

// WriteXML answers v as XML, with the request ID header every AWS answer
// carries.
func WriteXML(w http.ResponseWriter, status int, requestID string, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

// NewRequestID is a request ID in AWS's UUID form.
func NewRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
