package registry

import (
	"net/http"

	"github.com/zosnet/zosnet/internal/gridapi"
)

func (s *Server) createWorkload(r *http.Request, actor string, body []byte) (any, int, error) {
	var spec gridapi.WorkloadSpec
	if err := decode(body, &spec); err != nil {
		return nil, 0, err
	}
	out, err := s.store.CreateWorkload(r.Context(), actor, r.PathValue("network"), spec)
	return out, http.StatusCreated, err
}

func (s *Server) listWorkloads(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.Workloads(r.Context(), r.PathValue("network"))
	return out, http.StatusOK, err
}

func (s *Server) getWorkload(r *http.Request, _ string, _ []byte) (any, int, error) {
	name := r.PathValue("name")
	if err := gridapi.ValidWorkloadName("name", name); err != nil {
		return nil, 0, err
	}
	out, err := s.store.Workload(r.Context(), r.PathValue("network"), name)
	return out, http.StatusOK, err
}

func (s *Server) deleteWorkload(r *http.Request, actor string, _ []byte) (any, int, error) {
	name := r.PathValue("name")
	if err := gridapi.ValidWorkloadName("name", name); err != nil {
		return nil, 0, err
	}
	return nil, 0, s.store.DeleteWorkload(r.Context(), actor, r.PathValue("network"), name)
}

func (s *Server) reportWorkload(r *http.Request, actor string, body []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	name := r.PathValue("name")
	if err := gridapi.ValidWorkloadName("name", name); err != nil {
		return nil, 0, err
	}
	var rep gridapi.WorkloadReport
	if err := decode(body, &rep); err != nil {
		return nil, 0, err
	}
	return nil, 0, s.store.ReportWorkload(r.Context(), actor, id, r.PathValue("network"), name, rep)
}

func (s *Server) addPublicIPs(r *http.Request, actor string, body []byte) (any, int, error) {
	var a gridapi.PublicIPsAdd
	if err := decode(body, &a); err != nil {
		return nil, 0, err
	}
	out, err := s.store.AddPublicIPs(r.Context(), actor, r.PathValue("farm"), a)
	return out, http.StatusOK, err
}

func (s *Server) listPublicIPs(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.PublicIPs(r.Context(), r.PathValue("farm"))
	return out, http.StatusOK, err
}

func (s *Server) removePublicIP(r *http.Request, actor string, _ []byte) (any, int, error) {
	return nil, 0, s.store.RemovePublicIP(r.Context(), actor, r.PathValue("farm"), r.PathValue("ip"))
}
