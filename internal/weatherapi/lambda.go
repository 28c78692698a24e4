package weatherapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
)

type gatewayClaimsKey struct{}

// gatewayAuth authenticates a request API Gateway has already authorized,
// from the claims its JWT authorizer passed on.
type gatewayAuth struct{ v *jwtauth.Validator }

func (g gatewayAuth) Authenticate(r *http.Request) (*jwtauth.Caller, *jwtauth.Error) {
	claims, _ := r.Context().Value(gatewayClaimsKey{}).(map[string]string)
	return g.v.AuthorizeClaims(claims)
}

// LambdaHandler answers API Gateway HTTP API events (payload format 2.0)
// with s, so the Lambda and the HTTP server give the same answers.
func LambdaHandler(s *Server) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if a := e.RequestContext.Authorizer; a != nil && a.JWT != nil {
			ctx = context.WithValue(ctx, gatewayClaimsKey{}, a.JWT.Claims)
		}
		r, err := gatewayRequest(ctx, e)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Headers: map[string]string{"Content-Type": "application/json"},
				Body: `{"error":"bad_request","message":"the API Gateway event is not a valid HTTP request"}`}, nil
		}
		w := &recorder{header: http.Header{}, status: http.StatusOK}
		s.ServeHTTP(w, r)
		out := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}, Body: w.body.String()}
		for k, v := range w.header {
			out.Headers[k] = strings.Join(v, ", ")
		}
		return out, nil
	}
}

// gatewayRequest rebuilds the HTTP request an event describes. A named
// stage's prefix is dropped from the path, so routes match in any stage.
func gatewayRequest(ctx context.Context, e events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	path := e.RawPath
	if st := e.RequestContext.Stage; st != "" && st != "$default" {
		if rest, ok := strings.CutPrefix(path, "/"+st); ok && (rest == "" || rest[0] == '/') {
			path = rest
		}
	}
	if path == "" {
		path = "/"
	}
	body := []byte(e.Body)
	if e.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
			return nil, err
		}
	}
	u := &url.URL{Scheme: "https", Host: e.RequestContext.DomainName, Path: path, RawQuery: e.RawQueryString}
	r, err := http.NewRequestWithContext(ctx, e.RequestContext.HTTP.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range e.Headers {
		r.Header.Set(k, v)
	}
	r.RemoteAddr = e.RequestContext.HTTP.SourceIP
	return r, nil
}

// recorder collects one answer for the Lambda's response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
