package registry

import (
	"net/http"
	"strconv"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

func (s *Server) createExposure(r *http.Request, actor string, body []byte) (any, int, error) {
	var spec gridapi.ExposureSpec
	if err := decode(body, &spec); err != nil {
		return nil, 0, err
	}
	out, err := s.store.CreateExposure(r.Context(), actor, spec)
	return out, http.StatusCreated, err
}

func (s *Server) listExposures(r *http.Request, _ string, _ []byte) (any, int, error) {
	q := r.URL.Query()
	owner := q.Get("owner")
	if owner != "" {
		if _, err := identity.ParseID(owner); err != nil {
			return nil, 0, invalid("owner", "%v", err)
		}
	}
	var gw int64
	if v := q.Get("gateway"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, 0, invalid("gateway", "not a node id: %q", v)
		}
		gw = id
	}
	out, err := s.store.Exposures(r.Context(), owner, gw)
	return out, http.StatusOK, err
}

func (s *Server) getExposure(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.Exposure(r.Context(), r.PathValue("exposure"))
	return out, http.StatusOK, err
}

func (s *Server) deleteExposure(r *http.Request, actor string, _ []byte) (any, int, error) {
	return nil, 0, s.store.DeleteExposure(r.Context(), actor, r.PathValue("exposure"))
}

func (s *Server) reportExposure(r *http.Request, actor string, body []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	var rep gridapi.ExposureReport
	if err := decode(body, &rep); err != nil {
		return nil, 0, err
	}
	return nil, 0, s.store.ReportExposure(r.Context(), actor, id, r.PathValue("exposure"), rep)
}
