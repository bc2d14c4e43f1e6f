package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// MaxHelloBytes bounds what is read while peeking a ClientHello (a record is at most
// 16 KiB plus header; a hello may span a few records).
const MaxHelloBytes = 64 << 10

var errPeeked = errors.New("peeked")

// PeekSNI reads a TLS ClientHello from r and returns the server name it asks for
// (lower case, "" when it names none) and every byte read, which the caller replays
// to the backend. The hello is parsed by crypto/tls itself: the peek handshake stops
// at GetConfigForClient and writes nothing. Malformed input is an error; at most
// MaxHelloBytes are read.
func PeekSNI(r io.Reader) (string, []byte, error) {
	var buf bytes.Buffer
	var sni string
	var got bool
	conn := &readOnlyConn{r: io.TeeReader(io.LimitReader(r, MaxHelloBytes), &buf)}
	err := tls.Server(conn, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni, got = strings.ToLower(h.ServerName), true
			return nil, errPeeked
		},
	}).Handshake()
	if !got {
		if err == nil {
			err = errors.New("no ClientHello")
		}
		return "", buf.Bytes(), err
	}
	return sni, buf.Bytes(), nil
}

// readOnlyConn is a net.Conn that reads from r and refuses writes (a peek never
// answers the client).
type readOnlyConn struct{ r io.Reader }

func (c *readOnlyConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *readOnlyConn) Write([]byte) (int, error)        { return 0, io.ErrClosedPipe }
func (c *readOnlyConn) Close() error                     { return nil }
func (c *readOnlyConn) LocalAddr() net.Addr              { return nil }
func (c *readOnlyConn) RemoteAddr() net.Addr             { return nil }
func (c *readOnlyConn) SetDeadline(time.Time) error      { return nil }
func (c *readOnlyConn) SetReadDeadline(time.Time) error  { return nil }
func (c *readOnlyConn) SetWriteDeadline(time.Time) error { return nil }

// prefixConn is a net.Conn whose first reads return prefix (the peeked hello).
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
