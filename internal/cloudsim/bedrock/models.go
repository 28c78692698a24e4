package bedrock

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/crosscloud-agentid/agentid/deploy/models"
)

// foundationModels are the models cloudsim's Bedrock answers for, each
// with the geographies whose cross-Region inference profiles serve it.
// Compiled on 2026-11-30 from AWS's "Supported Regions and models for
// inference profiles" page (Bedrock User Guide, inference-profiles-support)
// and the model cards it links to; the tenant file's
// aws.inferenceProfiles adds IDs for newer models.
var foundationModels = map[string][]string{
	"anthropic.claude-3-haiku-20240307-v1:0":    {"us", "eu", "apac"},
	"anthropic.claude-3-sonnet-20240229-v1:0":   {"us", "eu", "apac"},
	"anthropic.claude-3-opus-20240229-v1:0":     {"us"},
	"anthropic.claude-3-5-haiku-20241022-v1:0":  {"us"},
	"anthropic.claude-3-5-sonnet-20240620-v1:0": {"us", "eu", "apac"},
	"anthropic.claude-3-5-sonnet-20241022-v2:0": {"us", "apac"},
	"anthropic.claude-3-7-sonnet-20250219-v1:0": {"us", "eu", "apac"},
	"anthropic.claude-sonnet-4-20250514-v1:0":   {"us", "eu", "apac", "global"},
	"anthropic.claude-opus-4-20250514-v1:0":     {"us"},
	"anthropic.claude-opus-4-1-20250805-v1:0":   {"us"},
	"anthropic.claude-sonnet-4-5-20250929-v1:0": {"us", "eu", "jp", "au", "global"},
	"anthropic.claude-haiku-4-5-20251001-v1:0":  {"us", "eu", "jp", "au", "global"},
	"anthropic.claude-opus-4-5-20251101-v1:0":   {"us", "eu", "global"},
	"amazon.nova-micro-v1:0":                    {"us", "eu", "apac"},
	"amazon.nova-lite-v1:0":                     {"us", "eu", "apac"},
	"amazon.nova-pro-v1:0":                      {"us", "eu", "apac"},
}

// geoSourceRegions says from which Regions a geography's profiles may be
// called (the "source Region" of the same page), by Region prefix.
var geoSourceRegions = map[string][]string{
	"us":     {"us-east-", "us-west-"},
	"eu":     {"eu-"},
	"apac":   {"ap-"},
	"jp":     {"ap-northeast-1", "ap-northeast-3"},
	"au":     {"ap-southeast-2", "ap-southeast-4"},
	"global": {"us-", "eu-", "ap-", "ca-", "sa-"},
}

// inRegionModels are the models still invoked by their own ID, on demand
// in the Region, rather than through a cross-Region profile: Claude 3
// Haiku where its model card says it is still available after its end of
// life elsewhere (see deploy/models/lifecycle.tsv). Newer Claude models are
// served through inference profiles only.
var inRegionModels = map[string][]string{
	"anthropic.claude-3-haiku-20240307-v1:0": {"ca-central-1", "eu-central-2", "sa-east-1", "ap-northeast-2"},
}

var invalidModel = &apiError{http.StatusBadRequest, "ValidationException", "The provided model identifier is invalid."}

// resolveModel turns Converse's modelId (an inference profile ID or its
// ARN, a foundation model ID or its ARN) into the inference profile ID
// the request runs on, or the model ID for a model served in the Region.
// A model past its end of life in this Region, by cloudsim's clock, gets
// Bedrock's ResourceNotFoundException. Any other foundation model gets the
// ValidationException AWS gives models served on demand only through an
// inference profile; anything else unknown gets "The provided model
// identifier is invalid."
func (s *Server) resolveModel(id string) (string, *apiError) {
	if arn, ok := strings.CutPrefix(id, "arn:aws:bedrock:"); ok {
		region, rest, _ := strings.Cut(arn, ":")
		account, resource, _ := strings.Cut(rest, ":")
		kind, name, _ := strings.Cut(resource, "/")
		switch {
		case region != s.region:
			return "", invalidModel
		case kind == "foundation-model" && account == "", kind == "inference-profile" && account == s.account:
			id = name
		default:
			// Custom, imported, provisioned and application inference
			// profile models are not emulated.
			return "", invalidModel
		}
	}
	if _, ok := foundationModels[id]; ok {
		if e := s.endOfLife(id); e != nil {
			return "", e
		}
		if slices.Contains(inRegionModels[id], s.region) {
			return id, nil
		}
		return "", s.onDemandOnly(id)
	}
	geo, base, _ := strings.Cut(id, ".")
	known := slices.Contains(foundationModels[base], geo) || slices.Contains(s.extraProfiles, id)
	if !known || !slices.ContainsFunc(geoSourceRegions[geo], func(p string) bool { return strings.HasPrefix(s.region, p) }) {
		return "", invalidModel
	}
	if e := s.endOfLife(base); e != nil {
		return "", e
	}
	return id, nil
}

// endOfLife is Bedrock's answer to a model past its end of life in this
// Region, or nil. The wording is the model card's (Claude 3 Haiku: "requests
// now get ResourceNotFoundException: This model version has reached the end
// of its life.") with the sentence Bedrock appends, as reported in
// aws-samples/amazon-bedrock-ai-karaoke#21 and
// aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws#708;
// the status is the ResourceNotFoundException shape's 404 (botocore's
// bedrock-runtime model). A Legacy model is answered: Bedrock refuses one
// only to accounts that have not used it lately, which cloudsim does not
// track.
func (s *Server) endOfLife(model string) *apiError {
	if models.Lifecycle(model, s.region, s.now()).State != models.EndOfLife {
		return nil
	}
	return &apiError{http.StatusNotFound, "ResourceNotFoundException",
		"This model version has reached the end of its life. Please refer to the AWS documentation for more details."}
}

func (s *Server) onDemandOnly(model string) *apiError {
	if _, ok := foundationModels[model]; !ok {
		return invalidModel
	}
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(
		"Invocation of model ID %s with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.", model)}
}

// deniedResource is the first resource a SigV4 caller may not call action
// on, or "" when it may. A call through an inference profile needs the
// action on the profile and on the foundation model it routes to ("If you
// specify an inference profile in the Resource field, you must also
// specify the foundation model in each Region associated with it":
// Bedrock User Guide, "Prerequisites for inference profiles"). cloudsim
// answers from the caller's Region, so that is the model's Region it
// checks. API-key callers are judged by the key alone.
func (s *Server) deniedResource(c caller, action, profile string) string {
	if c.Auth != "sigv4" {
		return ""
	}
	resources := []string{"arn:aws:bedrock:" + s.region + "::foundation-model/" + profile}
	if model := models.FoundationModel(profile); model != profile {
		resources = []string{
			"arn:aws:bedrock:" + s.region + ":" + s.account + ":inference-profile/" + profile,
			"arn:aws:bedrock:" + s.region + "::foundation-model/" + model,
		}
	}
	for _, resource := range resources {
		if !s.creds.Allowed(c.AccessKeyID, action, resource) {
			return resource
		}
	}
	return ""
}
