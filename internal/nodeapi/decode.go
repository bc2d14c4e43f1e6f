package nodeapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
)

// Decode decodes one JSON value (a request body or a state file) into v strictly:
// unknown fields and trailing data are refused. Its errors wrap ErrInvalid and name
// the field the way the API spells it ("peers[0].allowed_ips[1]: ..."), with the value
// and the reason, never Go's internals (the registry answers the same way).
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("body: trailing data after the JSON value")
	} else if err != nil {
		err = describe(err, data, reflect.TypeOf(v).Elem())
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func describe(err error, data []byte, t reflect.Type) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("body: not valid JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("body: empty or cut short")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("body: unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &typ):
		if msg := locate(data, t, ""); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("%s: want %s, got a JSON %s", cmpOr(typ.Field, "body"), kindName(typ.Type), typ.Value)
	}
	if msg := locate(data, t, ""); msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("body: %s", clean(err))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// locate decodes raw field by field along t and returns "path: reason" for the first
// value that does not decode, or "" when it finds none.
func locate(raw json.RawMessage, t reflect.Type, path string) string {
	if t.Kind() == reflect.Pointer {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return ""
		}
		return locate(raw, t.Elem(), path)
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice {
		err := json.Unmarshal(raw, reflect.New(t).Interface())
		if err == nil {
			return ""
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return fmt.Sprintf("%s: want %s, got a JSON %s", cmpOr(path, "body"), kindName(t), typ.Value)
		}
		return fmt.Sprintf("%s: %s", cmpOr(path, "body"), clean(err))
	}
	if t.Kind() == reflect.Slice {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Sprintf("%s: want a list", cmpOr(path, "body"))
		}
		for i, it := range items {
			if msg := locate(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
		return ""
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Sprintf("%s: want an object", cmpOr(path, "body"))
	}
	return locateFields(fields, t, path)
}

func locateFields(fields map[string]json.RawMessage, t reflect.Type, path string) string {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if msg := locateFields(fields, f.Type, path); msg != "" {
				return msg
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		name = cmpOr(name, f.Name)
		for k, raw := range fields {
			if strings.EqualFold(k, name) {
				if msg := locate(raw, f.Type, strings.TrimPrefix(path+"."+name, ".")); msg != "" {
					return msg
				}
			}
		}
	}
	return ""
}

// goCall matches the Go function call netip puts in its errors: netip.ParsePrefix("x"): .
var goCall = regexp.MustCompile(`(?:[a-z]+\.)?[A-Z][A-Za-z]*\(("(?:[^"\\]|\\.)*")\): `)

// clean turns a decoding error into words: no Go function names, no "json: ".
func clean(err error) string {
	s := strings.TrimPrefix(err.Error(), "json: ")
	s = goCall.ReplaceAllString(s, "$1: ")
	return s
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		if reflect.PointerTo(t).Implements(textUnmarshaler) {
			return "a string"
		}
		return "an object"
	}
	return t.String()
}
