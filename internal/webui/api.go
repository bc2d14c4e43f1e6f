package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/usernet"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// maxBody bounds request bodies.
const maxBody = 64 << 10

// apiError is the body of every error answer: what failed, and the field when one is to blame.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func refuse(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, apiError{Error: msg, Field: field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps an error to an answer: the registry's own status and field when it said
// no, 400 for bad input here, 502 when the registry could not be asked.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *gridapi.APIError
	var fe *gridapi.FieldError
	switch {
	case errors.As(err, &ae):
		writeJSON(w, ae.Status, apiError{Error: err.Error(), Field: ae.Field})
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Field: fe.Field})
	case errors.Is(err, errBadInput):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
	default:
		s.log.Warn("ui: request failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusBadGateway, apiError{Error: err.Error()})
	}
}

var errBadInput = errors.New("bad request")

// readBody decodes a JSON body strictly (unknown fields and trailing data are errors).
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", errBadInput, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body: trailing data after the JSON object", errBadInput)
	}
	return nil
}

// session is what the page shows about itself.
type session struct {
	Owner    string `json:"owner"`
	Registry string `json:"registry"`
	Refresh  string `json:"refresh"`
}

func (s *Server) session(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, session{Owner: s.cfg.Owner, Registry: s.cfg.Registry, Refresh: s.cfg.Refresh.String()})
}

// nodeItem is a grid node as the page's pickers list it.
type nodeItem struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Farm   int64  `json:"farm_id"`
	Online bool   `json:"online"`
	Hidden bool   `json:"hidden"`
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) {
	ns, err := s.cfg.Client.Nodes(r.Context(), 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]nodeItem, 0, len(ns))
	for _, n := range ns {
		out = append(out, nodeItem{ID: n.ID, Name: n.Name, Farm: n.FarmID, Online: n.Online, Hidden: n.Facts.Hidden})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) networks(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Owner == "" {
		writeJSON(w, http.StatusOK, []gridapi.Network{})
		return
	}
	ns, err := s.cfg.Client.Networks(r.Context(), s.cfg.Owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
	writeJSON(w, http.StatusOK, ns)
}

// createRequest is the body of POST /api/networks.
type createRequest struct {
	Name       string   `json:"name"`
	Range      string   `json:"range"`
	SubnetSize int      `json:"subnet_size,omitempty"`
	Nodes      []string `json:"nodes"` // names or ids
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := readBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	spec := gridapi.NetworkSpec{Name: strings.TrimSpace(req.Name), IPRange: strings.TrimSpace(req.Range), SubnetSize: req.SubnetSize, Members: []int64{}}
	if spec.SubnetSize == 0 {
		spec.SubnetSize = 24
	}
	for _, n := range req.Nodes {
		id, err := s.nodeID(r.Context(), n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		spec.Members = append(spec.Members, id)
	}
	if err := spec.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.cfg.Client.CreateNetwork(r.Context(), spec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("ui: network created", "network", n.ID, "name", n.Name, "members", len(n.Members))
	writeJSON(w, http.StatusCreated, n)
}

func (s *Server) nodeID(ctx context.Context, idOrName string) (int64, error) {
	if err := gridapi.ValidName("node", idOrName); err != nil {
		return 0, err
	}
	n, err := s.cfg.Client.Node(ctx, idOrName)
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", idOrName, err)
	}
	return n.ID, nil
}

// nodeRequest is the body of POST /api/networks/{id}/nodes.
type nodeRequest struct {
	Node string `json:"node"`
}

func (s *Server) addNode(w http.ResponseWriter, r *http.Request) {
	var req nodeRequest
	if err := readBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	s.editMembers(w, r, req.Node, func(ms []int64, id int64) []int64 {
		if !slices.Contains(ms, id) {
			ms = append(ms, id)
		}
		return ms
	})
}

func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	s.editMembers(w, r, r.PathValue("node"), func(ms []int64, id int64) []int64 {
		return slices.DeleteFunc(ms, func(m int64) bool { return m == id })
	})
}

func (s *Server) editMembers(w http.ResponseWriter, r *http.Request, node string, change func([]int64, int64) []int64) {
	id, err := s.nodeID(r.Context(), node)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := usernet.Edit(r.Context(), s.cfg.Client, s.cfg.Owner, r.PathValue("id"), func(sp *gridapi.NetworkSpec) error {
		sp.Members = change(sp.Members, id)
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.live.poke(n.ID)
	writeJSON(w, http.StatusOK, n)
}

// deviceRequest is the body of POST /api/networks/{id}/devices.
type deviceRequest struct {
	Device string `json:"device"`
}

// deviceAnswer says where the device's files can be fetched (once the page asks).
type deviceAnswer struct {
	Network    string `json:"network"`
	Device     string `json:"device"`
	Address    string `json:"address"`
	AccessNode string `json:"access_node"`
	File       string `json:"file"` // the wg-quick file's name (one wg-quick accepts)
	ConfURL    string `json:"conf_url"`
	QRURL      string `json:"qr_url"`
	Expires    string `json:"expires"`
}

func (s *Server) addDevice(w http.ResponseWriter, r *http.Request) {
	var req deviceRequest
	if err := readBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := gridapi.ValidName("device", req.Device); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := usernet.AddDevice(r.Context(), s.cfg.Client, s.cfg.Owner, r.PathValue("id"), req.Device, s.cfg.DeviceWait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ref, exp, err := s.devices.put(d)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("ui: device added", "network", d.Network.ID, "device", d.Name, "address", d.Address, "access_node", d.AccessNode)
	s.live.poke(d.Network.ID)
	base := "/api/devices/" + ref + "/"
	file := wgquick.DefaultFileName(d.Network.Name, d.Name)
	writeJSON(w, http.StatusCreated, deviceAnswer{Network: d.Network.Name, Device: d.Name, Address: d.Address, AccessNode: d.AccessNode,
		File: file, ConfURL: base + file, QRURL: base + "qr.png", Expires: exp.UTC().Format("15:04:05 UTC")})
}
