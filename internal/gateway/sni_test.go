package gateway

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
)

// clientHello records the ClientHello crypto/tls sends for serverName.
func clientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
	}()
	buf := make([]byte, 8192)
	n, err := s.Read(buf)
	c.Close()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestPeekSNI(t *testing.T) {
	hello := clientHello(t, "Shop.GW1.farm1.test")
	for _, c := range []struct {
		name    string
		in      []byte
		sni     string
		wantErr bool
	}{
		{"hello", hello, "shop.gw1.farm1.test", false},
		{"hello and more", append(append([]byte{}, hello...), "trailing application data"...), "shop.gw1.farm1.test", false},
		{"empty", nil, "", true},
		{"plain http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "", true},
		{"truncated header", hello[:3], "", true},
		{"truncated body", hello[:len(hello)/2], "", true},
		{"wrong record type", append([]byte{0x17}, hello[1:]...), "", true},
		{"huge length", []byte{0x16, 0x03, 0x01, 0xff, 0xff, 0x01}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sni, read, err := PeekSNI(bytes.NewReader(c.in))
			if (err != nil) != c.wantErr || sni != c.sni {
				t.Fatalf("PeekSNI = %q, %v; want %q, error %v", sni, err, c.sni, c.wantErr)
			}
			if !bytes.HasPrefix(c.in, read) {
				t.Fatal("the bytes read are not a prefix of the input")
			}
			if !c.wantErr && len(read) < len(hello) {
				t.Fatalf("read %d bytes, the hello is %d", len(read), len(hello))
			}
		})
	}
	if sni, _, err := PeekSNI(bytes.NewReader(clientHello(t, ""))); err != nil || sni != "" {
		t.Fatalf("hello without SNI: %q %v", sni, err)
	}
}

// FuzzPeekSNI: any input returns an error or a name, never panics, and what it read
// is exactly a prefix of the input (replayed to a passthrough backend).
func FuzzPeekSNI(f *testing.F) {
	f.Add(clientHello(f, "a.gw1.farm1.test"))
	f.Add(clientHello(f, ""))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		sni, read, err := PeekSNI(bytes.NewReader(in))
		if !bytes.HasPrefix(in, read) || len(read) > MaxHelloBytes {
			t.Fatalf("read %d bytes, not a prefix of the input", len(read))
		}
		if err != nil && sni != "" {
			t.Fatalf("error %v with name %q", err, sni)
		}
	})
}
