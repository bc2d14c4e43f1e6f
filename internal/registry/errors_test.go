package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestStoreErrorKinds: the store reports what a client did wrong as a domain error
// (kind and field), on both backends, and stores nothing then.
func TestStoreErrorKinds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		farmer, user, keyA, keyB := w.farmerK.ID(), w.userK.ID(), w.nodeA.Key.ID(), w.nodeB.Key.ID()
		n, err := w.user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "k", IPRange: "10.9.0.0/16", Members: []int64{w.idA}})
		mustOK(t, err)
		rev0, err := st.Revision(ctx)
		mustOK(t, err)
		cases := []struct {
			name  string
			do    func() error
			kind  error
			field string
		}{
			{"farm missing", func() error { _, err := st.Farm(ctx, "nofarm"); return err }, ErrNotFound, ""},
			{"node missing", func() error { _, err := st.Node(ctx, "9999"); return err }, ErrNotFound, ""},
			{"network missing", func() error { _, err := st.Network(ctx, "nonet"); return err }, ErrNotFound, ""},
			{"desired of missing node", func() error { _, err := st.Desired(ctx, 9999); return err }, ErrNotFound, ""},
			{"duplicate farm", func() error {
				_, err := st.CreateFarm(ctx, farmer, gridapi.FarmCreate{Name: w.farm.Name})
				return err
			}, ErrConflict, "name"},
			{"register into a missing farm", func() error {
				_, err := st.RegisterNode(ctx, newKey(t).ID(), gridapi.NodeRegister{FarmID: 999, Name: "x1"}, "127.0.0.1")
				return err
			}, ErrInvalid, "farm_id"},
			{"node name taken", func() error {
				_, err := st.RegisterNode(ctx, newKey(t).ID(), gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1"}, "127.0.0.1")
				return err
			}, ErrConflict, "name"},
			{"missing member", func() error {
				_, err := st.CreateNetwork(ctx, user, gridapi.NetworkSpec{Name: "m", IPRange: "10.10.0.0/16", Members: []int64{9999}})
				return err
			}, ErrInvalid, "members[0]"},
			{"overlapping range", func() error {
				_, err := st.CreateNetwork(ctx, user, gridapi.NetworkSpec{Name: "o", IPRange: "10.9.128.0/17"})
				return err
			}, ErrConflict, "ip_range"},
			{"stale revision", func() error {
				_, err := st.UpdateNetwork(ctx, user, n.ID, gridapi.NetworkSpec{Name: "k", IPRange: "10.9.0.0/16", Revision: n.Revision + 100})
				return err
			}, ErrConflict, "revision"},
			{"update by another user", func() error {
				_, err := st.UpdateNetwork(ctx, farmer, n.ID, gridapi.NetworkSpec{Name: "k", IPRange: "10.9.0.0/16"})
				return err
			}, ErrForbidden, ""},
			{"delete by another user", func() error { return st.DeleteNetwork(ctx, farmer, n.ID) }, ErrForbidden, ""},
			{"report by another node", func() error {
				return st.ReportNR(ctx, keyB, w.idA, n.ID, gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "up"})
			}, ErrForbidden, ""},
			{"report by a non-member", func() error {
				return st.ReportNR(ctx, keyB, w.idB, n.ID, gridapi.NRReport{PublicKey: wgKey1, ListenPort: 7, State: "up"})
			}, ErrConflict, ""},
			{"heartbeat for a missing node", func() error { return st.Heartbeat(ctx, keyA, 9999, "127.0.0.1") }, ErrNotFound, ""},
			{"heartbeat for another node", func() error { return st.Heartbeat(ctx, keyB, w.idA, "203.0.113.10") }, ErrForbidden, ""},
			{"public config by a non-owner", func() error {
				_, err := st.SetPublicConfig(ctx, user, w.idA, nil)
				return err
			}, ErrForbidden, ""},
			{"too many members", func() error {
				_, err := st.CreateNetwork(ctx, user, gridapi.NetworkSpec{Name: "t", IPRange: "10.11.0.0/30", SubnetSize: 30,
					Members: []int64{w.idA, w.idB}})
				return err
			}, ErrInvalid, "members"},
		}
		for _, tc := range cases {
			err := tc.do()
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s: %v (%T), want an *Error of kind %v", tc.name, err, err, tc.kind)
			} else if e.Kind != tc.kind || e.Field != tc.field {
				t.Errorf("%s: %v: kind %v field %q, want kind %v field %q", tc.name, err, e.Kind, e.Field, tc.kind, tc.field)
			}
		}
		if rev, err := st.Revision(ctx); err != nil || rev != rev0 {
			t.Errorf("refused writes moved the revision %d → %d (%v)", rev0, rev, err)
		}
	})
}

// TestStatusOf: the HTTP layer maps every error kind, its own errors, validation errors
// and anything else to a status; unknown errors say nothing about their cause.
func TestStatusOf(t *testing.T) {
	cases := []struct {
		err        error
		status     int
		field, msg string
	}{
		{invalid("farm", "not a farm id: %q", "x"), http.StatusBadRequest, "farm", `not a farm id: "x"`},
		{notFound("node", 7), http.StatusNotFound, "", "node 7 not found"},
		{forbidden("only node %d", 7), http.StatusForbidden, "", "only node 7"},
		{conflict("name", "taken"), http.StatusConflict, "name", "taken"},
		{fmt.Errorf("write: %w", conflict("revision", "stale")), http.StatusConflict, "revision", "stale"},
		{&gridapi.FieldError{Field: "ip_range", Reason: "bad"}, http.StatusBadRequest, "ip_range", "bad"},
		{&httpError{status: http.StatusTooManyRequests, msg: "slow down"}, http.StatusTooManyRequests, "", "slow down"},
		{&Error{Kind: errors.New("unmapped"), Msg: "x"}, http.StatusInternalServerError, "", "internal error"},
		{errors.New("pq: connection refused"), http.StatusInternalServerError, "", "internal error"},
	}
	for _, tc := range cases {
		st, field, msg := statusOf(tc.err)
		if st != tc.status || field != tc.field || msg != tc.msg {
			t.Errorf("statusOf(%v) = %d %q %q, want %d %q %q", tc.err, st, field, msg, tc.status, tc.field, tc.msg)
		}
	}
	for _, k := range []error{ErrInvalid, ErrNotFound, ErrForbidden, ErrConflict} {
		if st, _, _ := statusOf(kindf(k, "", "x")); st >= 500 {
			t.Errorf("kind %v has no HTTP status", k)
		}
	}
}
