package chatapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

// The fields each body may carry. Others are ignored (the Microsoft
// sample's client sends use_langchain), but one that differs from these
// only in case is refused: encoding/json would match it silently.
var (
	chatFields       = []string{"message", "llm_mode", "mode", "token_flow", "user_token", "use_langchain", "traceparent", "after_consent", "vault_session"}
	invocationFields = []string{"prompt", "message", "text", "token_flow", "llm_mode", "traceparent", "consent_redirect_uri", "after_consent", "vault_session"}
)

// decodeStrict unmarshals one JSON object into v, refusing what
// encoding/json lets through: trailing data after the object, a field
// given twice (json keeps the last), and a known field in another case.
// Its errors never quote the input.
func decodeStrict(data []byte, v any, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("it must be one JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return errors.New("it is not valid JSON")
		}
		if !slices.Contains(fields, key) && slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, key) }) {
			return errors.New("a field name differs from a known one only in case; field names are lower case")
		}
		if seen[key] {
			return errors.New("a field appears twice")
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errors.New("it is not valid JSON")
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("it is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("there is data after the JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errors.New("the field " + typeErr.Field + " has the wrong type")
		}
		return errors.New("it is not valid JSON")
	}
	return nil
}
