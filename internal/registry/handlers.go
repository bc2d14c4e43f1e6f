package registry

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func (s *Server) health(r *http.Request, _ string, _ []byte) (any, int, error) {
	rev, err := s.store.Revision(r.Context())
	if err != nil {
		return nil, 0, err
	}
	return gridapi.Health{Status: "ok", Revision: rev}, http.StatusOK, nil
}

func (s *Server) createFarm(r *http.Request, actor string, body []byte) (any, int, error) {
	var f gridapi.FarmCreate
	if err := decode(body, &f); err != nil {
		return nil, 0, err
	}
	out, err := s.store.CreateFarm(r.Context(), actor, f)
	return out, http.StatusCreated, err
}

func (s *Server) listFarms(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.Farms(r.Context())
	return out, http.StatusOK, err
}

func (s *Server) getFarm(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.Farm(r.Context(), r.PathValue("farm"))
	return out, http.StatusOK, err
}

func (s *Server) registerNode(r *http.Request, actor string, body []byte) (any, int, error) {
	var n gridapi.NodeRegister
	if err := decode(body, &n); err != nil {
		return nil, 0, err
	}
	out, err := s.store.RegisterNode(r.Context(), actor, n, clientIP(r))
	return out, http.StatusOK, err
}

func (s *Server) listNodes(r *http.Request, _ string, _ []byte) (any, int, error) {
	var farm int64
	if v := r.URL.Query().Get("farm"); v != "" {
		f, err := strconv.ParseInt(v, 10, 64)
		if err != nil || f <= 0 {
			return nil, 0, invalid("farm", "not a farm id: %q", v)
		}
		farm = f
	}
	out, err := s.store.Nodes(r.Context(), farm)
	return out, http.StatusOK, err
}

func (s *Server) getNode(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.Node(r.Context(), r.PathValue("node"))
	return out, http.StatusOK, err
}

func (s *Server) putFacts(r *http.Request, actor string, body []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	var f gridapi.NodeFacts
	if err := decode(body, &f); err != nil {
		return nil, 0, err
	}
	return nil, 0, s.store.SetFacts(r.Context(), actor, id, f, clientIP(r))
}

func (s *Server) heartbeat(r *http.Request, actor string, _ []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	return nil, 0, s.store.Heartbeat(r.Context(), actor, id, clientIP(r))
}

func (s *Server) setFarmEgressAllow(r *http.Request, actor string, body []byte) (any, int, error) {
	id, err := strconv.ParseInt(r.PathValue("farm"), 10, 64)
	if err != nil || id <= 0 {
		return nil, 0, invalid("farm", "not a farm id: %q", r.PathValue("farm"))
	}
	var a gridapi.FarmEgressAllow
	if err := decode(body, &a); err != nil {
		return nil, 0, err
	}
	out, err := s.store.SetFarmEgressAllow(r.Context(), actor, id, a)
	return out, http.StatusOK, err
}

func (s *Server) setPublicConfig(r *http.Request, actor string, body []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	var p gridapi.PublicConfig
	if err := decode(body, &p); err != nil {
		return nil, 0, err
	}
	out, err := s.store.SetPublicConfig(r.Context(), actor, id, &p)
	return out, http.StatusOK, err
}

func (s *Server) unsetPublicConfig(r *http.Request, actor string, _ []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	_, err = s.store.SetPublicConfig(r.Context(), actor, id, nil)
	return nil, 0, err
}

func (s *Server) reportNR(r *http.Request, actor string, body []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	var rep gridapi.NRReport
	if err := decode(body, &rep); err != nil {
		return nil, 0, err
	}
	return nil, 0, s.store.ReportNR(r.Context(), actor, id, r.PathValue("network"), rep)
}

func (s *Server) createNetwork(r *http.Request, actor string, body []byte) (any, int, error) {
	var spec gridapi.NetworkSpec
	if err := decode(body, &spec); err != nil {
		return nil, 0, err
	}
	out, err := s.store.CreateNetwork(r.Context(), actor, spec)
	return out, http.StatusCreated, err
}

func (s *Server) updateNetwork(r *http.Request, actor string, body []byte) (any, int, error) {
	var spec gridapi.NetworkSpec
	if err := decode(body, &spec); err != nil {
		return nil, 0, err
	}
	out, err := s.store.UpdateNetwork(r.Context(), actor, r.PathValue("network"), spec)
	return out, http.StatusOK, err
}

func (s *Server) deleteNetwork(r *http.Request, actor string, _ []byte) (any, int, error) {
	return nil, 0, s.store.DeleteNetwork(r.Context(), actor, r.PathValue("network"))
}

func (s *Server) listNetworks(r *http.Request, _ string, _ []byte) (any, int, error) {
	owner := r.URL.Query().Get("owner")
	if owner != "" {
		if _, err := identity.ParseID(owner); err != nil {
			return nil, 0, invalid("owner", "%v", err)
		}
	}
	out, err := s.store.Networks(r.Context(), owner)
	return out, http.StatusOK, err
}

func (s *Server) getNetwork(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.Network(r.Context(), r.PathValue("network"))
	return out, http.StatusOK, err
}

func (s *Server) networkStatus(r *http.Request, _ string, _ []byte) (any, int, error) {
	out, err := s.store.NetworkStatus(r.Context(), r.PathValue("network"))
	return out, http.StatusOK, err
}

// desired long-polls: it answers once the node's desired revision exceeds ?revision,
// or after the timeout: with 204 and no body when the watcher already has the current
// revision (?revision > 0), else with the current state. A 1,000-member network's
// state is about 1 MB of JSON: sent at every timeout, 1,000 idle members cost the
// registry 33 MB/s of encoding and each member a decode every 30 s for nothing.
func (s *Server) desired(r *http.Request, _ string, _ []byte) (any, int, error) {
	id, err := nodeID(r)
	if err != nil {
		return nil, 0, err
	}
	q := r.URL.Query()
	rev, err := strconv.ParseInt(cmp0(q.Get("revision"), "0"), 10, 64)
	if err != nil || rev < 0 {
		return nil, 0, invalid("revision", "not a revision: %q", q.Get("revision"))
	}
	timeout := s.cfg.WatchTimeout
	if v := q.Get("timeout"); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil || timeout < 0 || timeout > 120*time.Second {
			return nil, 0, invalid("timeout", "a duration up to 120s, got %q", v)
		}
	}
	ch, stop := s.hub.watch(id)
	defer stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for first := true; ; first = false {
		cur, err := s.readDesired(r.Context(), first, func(ctx context.Context) (int64, error) {
			return s.store.DesiredRevision(ctx, id)
		})
		if err != nil {
			return nil, 0, err
		}
		if cur > rev {
			break
		}
		select {
		case <-ch:
			continue
		case <-deadline.C:
		case <-r.Context().Done():
			return nil, 0, r.Context().Err()
		}
		if rev > 0 {
			return nil, http.StatusNoContent, nil
		}
		break
	}
	var d gridapi.Desired
	_, err = s.readDesired(r.Context(), false, func(ctx context.Context) (n int64, err error) {
		d, err = s.store.Desired(ctx, id)
		return 0, err
	})
	return d, http.StatusOK, err
}

// readDesired runs read (of a node's desired revision or state) in a store slot. The
// first read of a long-poll may be shed (503 + Retry-After: the node comes back later);
// the reads after it belong to an admitted watch and wait for their slot.
func (s *Server) readDesired(ctx context.Context, first bool, read func(context.Context) (int64, error)) (int64, error) {
	var release func()
	if first {
		var wait time.Duration
		var err error
		if release, wait, err = s.shed.acquire(ctx); err != nil {
			return 0, err
		}
		if release == nil {
			return 0, overloaded(wait)
		}
	} else {
		var err error
		if release, err = s.shed.acquireWait(ctx); err != nil {
			return 0, err
		}
	}
	defer release()
	return read(ctx)
}
