package registry

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestOpenAPISchemasMatchWireTypes: every schema of openapi.yaml has exactly the JSON
// fields of the gridapi type the server encodes or decodes, so docs/api.md (generated
// from the document) cannot drift from the wire.
func TestOpenAPISchemasMatchWireTypes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	types := map[string]any{
		"Error": gridapi.Error{}, "Health": gridapi.Health{}, "FarmCreate": gridapi.FarmCreate{}, "FarmEgressAllow": gridapi.FarmEgressAllow{},
		"Farm": gridapi.Farm{}, "NodeRegister": gridapi.NodeRegister{}, "Route": gridapi.Route{},
		"NIC": gridapi.NIC{}, "Endpoint": gridapi.Endpoint{}, "NodeFacts": gridapi.NodeFacts{},
		"PublicConfig": gridapi.PublicConfig{}, "Node": gridapi.Node{},
		"AccessPeerSpec": gridapi.AccessPeerSpec{}, "NetworkSpec": gridapi.NetworkSpec{},
		"Network": gridapi.Network{}, "NRReport": gridapi.NRReport{}, "PeerSeen": gridapi.PeerSeen{},
		"RelayGroupUse": gridapi.RelayGroupUse{}, "ObservedEndpoint": gridapi.ObservedEndpoint{},
		"NATSeen": gridapi.NATSeen{}, "PunchState": gridapi.PunchState{},
		"NetworkStatus": gridapi.DesiredNetwork{}, "PeerFacts": gridapi.PeerFacts{},
		"Desired": gridapi.Desired{}, "ExposureSpec": gridapi.ExposureSpec{}, "Exposure": gridapi.Exposure{},
		"ExposureReport": gridapi.ExposureReport{},
		"WorkloadSpec":   gridapi.WorkloadSpec{}, "Workload": gridapi.Workload{},
		"WorkloadReport": gridapi.WorkloadReport{}, "PublicIPsAdd": gridapi.PublicIPsAdd{}, "PublicIP": gridapi.PublicIP{},
	}
	for name, ref := range doc.Components.Schemas {
		v, ok := types[name]
		if !ok {
			t.Errorf("schema %s: no wire type mapped in this test", name)
			continue
		}
		compareFields(t, name, ref.Value, reflect.TypeOf(v))
	}
	for name := range types {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("openapi.yaml has no schema %s", name)
		}
	}
}

// compareFields compares a schema's properties (allOf merged, inline objects of arrays
// followed) with a struct's JSON fields (embedded structs flattened).
func compareFields(t *testing.T, where string, s *openapi3.Schema, typ reflect.Type) {
	t.Helper()
	props := openapi3.Schemas{}
	for k, v := range s.Properties {
		props[k] = v
	}
	for _, sub := range s.AllOf {
		for k, v := range sub.Value.Properties {
			props[k] = v
		}
	}
	fields := jsonFields(typ)
	for name, f := range fields {
		p, ok := props[name]
		if !ok {
			t.Errorf("%s: field %q (%s) is missing from openapi.yaml", where, name, f.Type)
			continue
		}
		elem := f.Type
		for elem.Kind() == reflect.Slice || elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		item := p.Value
		if item.Items != nil {
			item = item.Items.Value
		}
		if p.Ref == "" && (item.Items == nil || item.Items.Ref == "") && len(item.Properties) > 0 && elem.Kind() == reflect.Struct {
			compareFields(t, where+"."+name, item, elem)
		}
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: openapi.yaml describes %q, which the wire type does not have", where, name)
		}
	}
}

func jsonFields(typ reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range slices.Values(reflect.VisibleFields(typ)) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}
