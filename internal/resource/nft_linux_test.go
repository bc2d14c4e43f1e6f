package resource

import (
	"testing"

	"github.com/zosnet/zosnet/internal/nft"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestNRTableGolden: the NR's whole forwarding table, as `nft list table` prints it
// (TestNFTablesOracle checks the kernel lists the same).
func TestNRTableGolden(t *testing.T) {
	testkit.Golden(t, "testdata/nr.nft", nft.Render(nrTable(NamesOf("net1"))))
}
