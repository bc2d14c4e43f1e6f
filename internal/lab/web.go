package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/pires/go-proxyproto"
)

// WebOptions configure the lab's test service (`zoslab serve`), which runs in
// workloads as the backend of exposures.
type WebOptions struct {
	HTTP, HTTPS    string // listen addresses ("" = none)
	TCPEcho        string // a TCP echo service
	UDPEcho        string // a UDP echo service (answers "echo " + datagram)
	Name           string // the service's name in answers, and its TLS certificate's
	ProxyProtocol  bool   // expect a PROXY protocol header on TCP (HTTP, HTTPS, echo)
	MaxBytes       int64  // largest /bytes answer (default 1 GiB)
	OnListening    func() // called once every listener is open
	ReadHeaderTime time.Duration
}

// WebHandler serves: / (who the client is: address, X-Forwarded-*, protocol), /bytes?n=N
// (N bytes, streamed), /stream?n=N (N lines, flushed 50 ms apart), /ws (a WebSocket
// echo) and /.well-known/acme-challenge/TOKEN (the backend's own answer, for HTTP-01 of
// a passthrough name).
func WebHandler(o WebOptions) http.Handler {
	if o.MaxBytes == 0 {
		o.MaxBytes = 1 << 30
	}
	m := http.NewServeMux()
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\nclient=%s xff=%s proto=%s host=%s xfh=%s tls=%v http=%s\n", o.Name, r.RemoteAddr,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Host, r.Header.Get("X-Forwarded-Host"), r.TLS != nil, r.Proto)
	})
	m.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 || n > o.MaxBytes {
			http.Error(w, "n: a byte count up to the limit", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 64<<10)
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	m.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := range min(max(n, 1), 100) {
			fmt.Fprintf(w, "line %d\n", i)
			http.NewResponseController(w).Flush()
			time.Sleep(50 * time.Millisecond) // a paced stream, served to a client that reads it
		}
	})
	m.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	})
	m.HandleFunc("/.well-known/acme-challenge/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend %s answers %s", o.Name, r.URL.Path)
	})
	return m
}

// ServeWeb runs the services of o until ctx ends.
func ServeWeb(ctx context.Context, o WebOptions) error {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	listen := func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		closers = append(closers, l)
		if o.ProxyProtocol {
			return &proxyproto.Listener{Listener: l, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}, nil
		}
		return l, nil
	}
	errc := make(chan error, 4)
	h := WebHandler(o)
	if o.HTTP != "" {
		l, err := listen(o.HTTP)
		if err != nil {
			return err
		}
		go func() { errc <- (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l) }()
	}
	if o.HTTPS != "" {
		l, err := listen(o.HTTPS)
		if err != nil {
			return err
		}
		cert, err := selfSigned(o.Name)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go func() { errc <- srv.ServeTLS(l, "", "") }()
	}
	if o.TCPEcho != "" {
		l, err := listen(o.TCPEcho)
		if err != nil {
			return err
		}
		go func() { errc <- echoTCP(l) }()
	}
	if o.UDPEcho != "" {
		pc, err := net.ListenPacket("udp", o.UDPEcho)
		if err != nil {
			return err
		}
		closers = append(closers, pc)
		go func() { errc <- echoUDP(pc) }()
	}
	if o.OnListening != nil {
		o.OnListening()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// echoTCP answers "from CLIENT" first (the address the PROXY header carried, or the
// peer's), then echoes.
func echoTCP(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "from %s\n", c.RemoteAddr())
			io.Copy(c, c)
		}()
	}
}

func echoUDP(pc net.PacketConn) error {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
	}
}

// selfSigned makes a certificate for name (the backend's own, which a passthrough
// exposure serves unchanged).
func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
