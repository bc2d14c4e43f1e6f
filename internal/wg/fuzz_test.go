package wg

import "testing"

// FuzzParseUAPI feeds arbitrary UAPI answers to the parser: no panic.
func FuzzParseUAPI(f *testing.F) {
	f.Add("private_key=" + "11111111111111111111111111111111111111111111111111111111111111ab" + "\nlisten_port=3000\npublic_key=2222222222222222222222222222222222222222222222222222222222222222\nendpoint=[::1]:5\nallowed_ip=10.0.0.0/8\n")
	f.Add("errno=0\n")
	f.Fuzz(func(t *testing.T, in string) {
		ParseUAPI("w", in)
	})
}
