package registry

import (
	"context"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Store is the registry's storage. Every method is safe for concurrent use, also by
// several registry processes sharing one PostgreSQL database. Writes take the key id
// of the signer (actor) and check ownership in the same transaction as the change.
// Errors a client caused are domain errors, never HTTP statuses: an *Error of kind
// ErrInvalid, ErrNotFound, ErrForbidden or ErrConflict (errors.Is), or a
// *gridapi.FieldError for a value that fails validation; nothing is stored then.
type Store interface {
	CreateFarm(ctx context.Context, actor string, f gridapi.FarmCreate) (gridapi.Farm, error)
	Farms(ctx context.Context) ([]gridapi.Farm, error)
	Farm(ctx context.Context, idOrName string) (gridapi.Farm, error)

	// RegisterNode registers the node whose key is actor, or returns it if registered.
	RegisterNode(ctx context.Context, actor string, r gridapi.NodeRegister, src string) (gridapi.Node, error)
	Nodes(ctx context.Context, farm int64) ([]gridapi.Node, error)
	Node(ctx context.Context, idOrName string) (gridapi.Node, error)
	SetFacts(ctx context.Context, actor string, node int64, f gridapi.NodeFacts, src string) error
	Heartbeat(ctx context.Context, actor string, node int64, src string) error
	// SetFarmEgressAllow replaces a farm's egress allow list (owner only) and wakes its
	// nodes.
	SetFarmEgressAllow(ctx context.Context, actor string, farm int64, a gridapi.FarmEgressAllow) (gridapi.Farm, error)
	// SetPublicConfig sets (p != nil) or removes (p == nil) a node's public config.
	SetPublicConfig(ctx context.Context, actor string, node int64, p *gridapi.PublicConfig) (gridapi.Node, error)

	CreateNetwork(ctx context.Context, actor string, s gridapi.NetworkSpec) (gridapi.Network, error)
	UpdateNetwork(ctx context.Context, actor, id string, s gridapi.NetworkSpec) (gridapi.Network, error)
	DeleteNetwork(ctx context.Context, actor, id string) error
	Networks(ctx context.Context, owner string) ([]gridapi.Network, error)
	Network(ctx context.Context, id string) (gridapi.Network, error)
	// NetworkStatus is the network with every member's facts and report.
	NetworkStatus(ctx context.Context, id string) (gridapi.DesiredNetwork, error)
	ReportNR(ctx context.Context, actor string, node int64, network string, r gridapi.NRReport) error

	// CreateWorkload deploys a workload on a member node (the network's owner), taking
	// a public IPv4 of the node's farm pool when asked; DeleteWorkload removes it and
	// frees the address. ReportWorkload is the node's report of one of its workloads.
	CreateWorkload(ctx context.Context, actor, network string, s gridapi.WorkloadSpec) (gridapi.Workload, error)
	DeleteWorkload(ctx context.Context, actor, network, name string) error
	Workload(ctx context.Context, network, name string) (gridapi.Workload, error)
	Workloads(ctx context.Context, network string) ([]gridapi.Workload, error)
	ReportWorkload(ctx context.Context, actor string, node int64, network, name string, r gridapi.WorkloadReport) error

	// AddPublicIPs adds addresses to a farm's public IPv4 pool (the farm's owner);
	// RemovePublicIP removes a free one.
	AddPublicIPs(ctx context.Context, actor, farm string, a gridapi.PublicIPsAdd) ([]gridapi.PublicIP, error)
	PublicIPs(ctx context.Context, farm string) ([]gridapi.PublicIP, error)
	RemovePublicIP(ctx context.Context, actor, farm, ip string) error

	// CreateExposure claims a name or port on a gateway for the owner of spec.Network.
	CreateExposure(ctx context.Context, actor string, spec gridapi.ExposureSpec) (gridapi.Exposure, error)
	// DeleteExposure removes an exposure of actor's, freeing its name or port.
	DeleteExposure(ctx context.Context, actor, id string) error
	// Exposures lists exposures, filtered by owner and gateway when non-zero.
	Exposures(ctx context.Context, owner string, gateway int64) ([]gridapi.Exposure, error)
	Exposure(ctx context.Context, id string) (gridapi.Exposure, error)
	// ReportExposure stores the gateway node's report on an exposure it serves.
	ReportExposure(ctx context.Context, actor string, node int64, id string, r gridapi.ExposureReport) error

	// Desired is what node must run, with its revision.
	Desired(ctx context.Context, node int64) (gridapi.Desired, error)
	// DesiredRevision is the revision Desired would return now (one row read: a
	// long-poll checks it before reading the whole state).
	DesiredRevision(ctx context.Context, node int64) (int64, error)
	// Revision is the latest revision of anything.
	Revision(ctx context.Context) (int64, error)
	// Subscribe delivers every change (from this process or, on PostgreSQL, any
	// registry sharing the database) to fn until ctx ends. fn must not block.
	Subscribe(ctx context.Context, fn func(Change)) error
	Close() error
}

// Change says which nodes' desired state reached which revision. Nodes nil means
// "possibly all nodes" (e.g. after a lost notification).
type Change struct {
	Revision int64   `json:"r"`
	Nodes    []int64 `json:"n"`
}
