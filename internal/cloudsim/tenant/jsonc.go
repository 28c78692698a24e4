package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// stripComments blanks out // and /* */ comments outside strings. Every byte
// keeps its offset and every newline stays, so decoder offsets still map to
// the lines the user sees in the file.
func stripComments(src []byte) []byte {
	out := bytes.Clone(src)
	inString, escaped := false, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := bytes.Index(out[i+2:], []byte("*/"))
			stop := len(out)
			if end >= 0 {
				stop = i + 2 + end + 2
			}
			for ; i < stop; i++ {
				if out[i] != '\n' {
					out[i] = ' '
				}
			}
			i--
		}
	}
	return out
}

// lineAt returns the 1-based line of a byte offset.
func lineAt(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// valueOffsets maps each JSON path ("applications[2].appId") to the offset
// where its value starts, so checks made after decoding can name a line.
func valueOffsets(data []byte) map[string]int64 {
	offsets := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		array bool
		index int
		key   string
		path  string
	}
	var stack []frame
	expectKey := false
	start := func() int64 {
		off := dec.InputOffset()
		for off < int64(len(data)) {
			switch data[off] {
			case ' ', '\t', '\r', '\n', ':', ',':
				off++
				continue
			}
			break
		}
		return off
	}
	current := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := &stack[len(stack)-1]
		if top.array {
			p := top.path + "[" + strconv.Itoa(top.index) + "]"
			top.index++
			return p
		}
		if top.path == "" {
			return top.key
		}
		return top.path + "." + top.key
	}
	for {
		off := start()
		tok, err := dec.Token()
		if err != nil {
			return offsets
		}
		if len(stack) > 0 && !stack[len(stack)-1].array && expectKey {
			if key, ok := tok.(string); ok {
				stack[len(stack)-1].key = key
				expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			expectKey = len(stack) > 0 && !stack[len(stack)-1].array
			continue
		}
		path := current()
		offsets[path] = off
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{path: path})
			expectKey = true
		case json.Delim('['):
			stack = append(stack, frame{array: true, path: path})
		default:
			expectKey = len(stack) > 0 && !stack[len(stack)-1].array
		}
	}
}

// decodeStrict decodes JSONC into v, refusing unknown fields and trailing
// data, and turns the decoder's byte offsets into line numbers.
func decodeStrict(name string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return fmt.Errorf("%s:%d: unexpected data after the closing brace", name, lineAt(data, dec.InputOffset()))
		}
		return nil
	}
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%s:%d: %v", name, lineAt(data, syntax.Offset), syntax)
	case errors.As(err, &typeErr):
		return fmt.Errorf("%s:%d: %s: expected %s, found a JSON %s", name, lineAt(data, typeErr.Offset), typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%s:%d: the file ends before the JSON does", name, lineAt(data, int64(len(data))))
	default:
		// An unknown field: the decoder names it but gives no offset, so
		// point at the first place the key appears.
		line := lineAt(data, dec.InputOffset())
		if _, key, ok := strings.Cut(err.Error(), "unknown field "); ok {
			if i := bytes.Index(data, []byte(key)); i >= 0 {
				line = lineAt(data, int64(i))
			}
			return fmt.Errorf("%s:%d: unknown field %s (see deploy/local/tenant.jsonc for the format)", name, line, key)
		}
		return fmt.Errorf("%s:%d: %v", name, line, err)
	}
}
