package provision

import "testing"

func TestEcho(t *testing.T) {
	b := echo(0x1234, 7)
	if checksum(b) != 0 {
		t.Errorf("checksum of a finished packet is %#x, want 0", checksum(b))
	}
	if b[0] != 8 || b[4] != 0x12 || b[5] != 0x34 || b[7] != 7 {
		t.Errorf("header % x", b[:8])
	}
}
