package refdoc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// methods is the order operations of one path are listed in.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// APIReference renders an OpenAPI 3 document (YAML or JSON) as the Markdown API
// reference: every operation with its parameters, body and responses, then every
// schema. The document is validated first; an invalid one is an error naming the
// problem, so a broken openapi.yaml fails `go generate` and the drift test.
func APIReference(spec []byte, source string) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s: not valid OpenAPI: %w", source, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s API reference\n\n", doc.Info.Title)
	fmt.Fprintf(&b, "<!-- Generated from %s by `go generate ./...`; do not edit. -->\n\n", source)
	fmt.Fprintf(&b, "API version %s. %s\n", doc.Info.Version, strings.TrimSpace(doc.Info.Description))
	writeOperationIndex(&b, doc)
	for _, p := range sortedKeys(doc.Paths.Map()) {
		item := doc.Paths.Value(p)
		for _, m := range methods {
			if op := item.GetOperation(m); op != nil {
				writeOperation(&b, m, p, op)
			}
		}
	}
	b.WriteString("\n## Schemas\n")
	for _, name := range sortedKeys(doc.Components.Schemas) {
		writeSchema(&b, name, doc.Components.Schemas[name].Value)
	}
	return []byte(b.String()), nil
}

func writeOperationIndex(b *strings.Builder, doc *openapi3.T) {
	b.WriteString("\n## Operations\n\n| method | path | what it does | signed |\n|---|---|---|---|\n")
	for _, p := range sortedKeys(doc.Paths.Map()) {
		item := doc.Paths.Value(p)
		for _, m := range methods {
			if op := item.GetOperation(m); op != nil {
				fmt.Fprintf(b, "| %s | [`%s`](#%s) | %s | %s |\n", m, p, Slug(m+" "+p), cell(op.Summary), yes(signed(op)))
			}
		}
	}
}

func signed(op *openapi3.Operation) bool { return op.Security != nil && len(*op.Security) > 0 }

func yes(v bool) string {
	if v {
		return "yes"
	}
	return ""
}

func writeOperation(b *strings.Builder, method, path string, op *openapi3.Operation) {
	fmt.Fprintf(b, "\n## %s %s\n\n%s.", method, path, upperFirst(op.Summary))
	if signed(op) {
		b.WriteString(" Signed request.")
	}
	b.WriteString("\n")
	if len(op.Parameters) > 0 {
		b.WriteString("\n| parameter | in | type | required | description |\n|---|---|---|---|---|\n")
		for _, pr := range op.Parameters {
			p := pr.Value
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.In, typeOf(p.Schema), yes(p.Required), cell(describe(p.Description, p.Schema)))
		}
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		for _, ct := range sortedKeys(op.RequestBody.Value.Content) {
			fmt.Fprintf(b, "\nRequest body (%s): %s\n", ct, typeOf(op.RequestBody.Value.Content[ct].Schema))
		}
	}
	b.WriteString("\n| status | meaning | body |\n|---|---|---|\n")
	rs := op.Responses.Map()
	for _, code := range sortedKeys(rs) {
		r := rs[code].Value
		body := ""
		for _, ct := range sortedKeys(r.Content) {
			body = typeOf(r.Content[ct].Schema)
		}
		desc := ""
		if r.Description != nil {
			desc = *r.Description
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", code, cell(desc), body)
	}
}

func writeSchema(b *strings.Builder, name string, s *openapi3.Schema) {
	fmt.Fprintf(b, "\n### %s\n\n", name)
	if s.Description != "" {
		fmt.Fprintf(b, "%s\n\n", upperFirst(s.Description))
	}
	props := s.Properties
	required := s.Required
	if len(s.AllOf) > 0 {
		var parts []string
		props = openapi3.Schemas{}
		for _, sub := range s.AllOf {
			if sub.Ref != "" {
				parts = append(parts, typeOf(sub))
				continue
			}
			for k, v := range sub.Value.Properties {
				props[k] = v
			}
			required = append(required, sub.Value.Required...)
		}
		fmt.Fprintf(b, "Every field of %s, and:\n\n", strings.Join(parts, ", "))
	}
	if len(props) == 0 {
		fmt.Fprintf(b, "%s\n", typeOf(openapi3.NewSchemaRef("", s)))
		return
	}
	b.WriteString("| field | type | required | description |\n|---|---|---|---|\n")
	for _, k := range sortedKeys(props) {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", k, typeOf(props[k]), yes(slices.Contains(required, k)), cell(describe(props[k].Value.Description, props[k])))
	}
}

// typeOf names a schema: a link for a named one, "array of X", or an inline object's
// fields.
func typeOf(r *openapi3.SchemaRef) string {
	if r == nil || r.Value == nil {
		return ""
	}
	if r.Ref != "" {
		name := r.Ref[strings.LastIndex(r.Ref, "/")+1:]
		return fmt.Sprintf("[`%s`](#%s)", name, Slug(name))
	}
	s := r.Value
	switch {
	case s.Type.Is("array"):
		return "array of " + typeOf(s.Items)
	case s.Type.Is("object") && len(s.Properties) > 0:
		var fs []string
		for _, k := range sortedKeys(s.Properties) {
			fs = append(fs, fmt.Sprintf("`%s` %s", k, typeOf(s.Properties[k])))
		}
		return "object {" + strings.Join(fs, ", ") + "}"
	}
	t := strings.Join(s.Type.Slice(), " or ")
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if len(s.Enum) > 0 {
		var vs []string
		for _, v := range s.Enum {
			vs = append(vs, fmt.Sprint(v))
		}
		t += ": " + strings.Join(vs, ", ")
	}
	return t
}

// describe joins a description with the schema's default and pattern.
func describe(desc string, r *openapi3.SchemaRef) string {
	parts := []string{}
	if desc != "" {
		parts = append(parts, desc)
	}
	if r != nil && r.Value != nil && r.Ref == "" {
		if r.Value.Default != nil {
			parts = append(parts, fmt.Sprintf("default %v", r.Value.Default))
		}
		if r.Value.Pattern != "" {
			parts = append(parts, fmt.Sprintf("pattern `%s`", r.Value.Pattern))
		}
	}
	return strings.Join(parts, "; ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// cell escapes what would break a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
