package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"

	"github.com/zosnet/zosnet/internal/store"
)

// ACMEOptions configure an ACME certificate source.
type ACMEOptions struct {
	Directory string       // the CA's ACME directory URL
	Email     string       // account contact; optional
	HTTP      *http.Client // talks to the CA (trusting its TLS certificate); nil: default
	Store     *store.Dir   // account key and certificates (keys/acme-*, 0600)
	// Allowed says whether a name may have a certificate: a terminated name of the
	// table, which came from the registry. Nothing else is ever asked of the CA.
	Allowed func(name string) bool
	Log     *slog.Logger
}

// ACME is a CertSource that obtains certificates with the ACME HTTP-01 challenge
// (the acmez client). The challenge is answered by the gateway's own port 80 through
// HandleHTTPChallenge: nothing else listens anywhere. A certificate is obtained at the
// first TLS handshake for an allowed name (or by Ensure), kept on disk, renewed after
// two thirds of its life, and deleted by Forget. Safe for concurrent use.
type ACME struct {
	o ACMEOptions

	mu      sync.Mutex
	client  *acmez.Client
	account acme.Account
	certs   map[string]*tls.Certificate
	pending map[string]chan struct{} // one order per name at a time
	tokens  map[string]string        // HTTP-01 path → key authorization
	renew   map[string]*time.Timer
	closed  bool
}

// NewACME creates the source; the account is registered at the first order.
func NewACME(o ACMEOptions) (*ACME, error) {
	if o.Directory == "" || o.Store == nil || o.Allowed == nil {
		return nil, errors.New("gateway: ACME needs a directory URL, a store and an Allowed policy")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &ACME{o: o, certs: map[string]*tls.Certificate{}, pending: map[string]chan struct{}{},
		tokens: map[string]string{}, renew: map[string]*time.Timer{}}, nil
}

// certFile is the secret file of a name's certificate chain and key (PEM), named by a
// hash of the name (a name may be longer than a state file name).
func certFile(name string) string {
	h := sha256.Sum256([]byte(name))
	return "acme-" + hex.EncodeToString(h[:16]) + ".pem"
}

// GetCertificate implements CertSource.
func (a *ACME) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(h.Context(), 2*time.Minute)
	defer cancel()
	return a.get(ctx, strings.ToLower(h.ServerName))
}

// Ensure obtains name's certificate now unless one is held (run it in the background
// after a name is added, so the first visitor does not wait for the CA).
func (a *ACME) Ensure(ctx context.Context, name string) error {
	_, err := a.get(ctx, name)
	return err
}

func (a *ACME) get(ctx context.Context, name string) (*tls.Certificate, error) {
	if !a.o.Allowed(name) {
		return nil, fmt.Errorf("no certificate for %q: not a terminated name of this gateway", name)
	}
	for {
		a.mu.Lock()
		if c := a.certs[name]; c != nil {
			a.mu.Unlock()
			return c, nil
		}
		if wait := a.pending[name]; wait != nil {
			a.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		a.pending[name] = done
		a.mu.Unlock()
		c, err := a.loadOrObtain(ctx, name)
		a.mu.Lock()
		delete(a.pending, name)
		close(done)
		keep := err == nil && !a.closed && a.o.Allowed(name)
		if keep {
			a.certs[name] = c
			a.scheduleRenewal(name, c.Leaf)
		}
		a.mu.Unlock()
		if err == nil && !keep { // the name went while its order ran
			_ = a.o.Store.RemoveSecret(certFile(name))
		}
		return c, err
	}
}

// loadOrObtain reads name's certificate from disk while it has more than a third of
// its life left, else orders a new one.
func (a *ACME) loadOrObtain(ctx context.Context, name string) (*tls.Certificate, error) {
	if b, err := a.o.Store.ReadSecret(certFile(name)); err == nil && b != nil {
		if c, err := parsePEMCert(b); err == nil && !dueForRenewal(c.Leaf, time.Now()) {
			return c, nil
		}
	}
	return a.obtain(ctx, name)
}

func dueForRenewal(leaf *x509.Certificate, now time.Time) bool {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return now.After(leaf.NotBefore.Add(life * 2 / 3))
}

// obtain orders a certificate for name over HTTP-01 and stores it.
func (a *ACME) obtain(ctx context.Context, name string) (*tls.Certificate, error) {
	client, account, err := a.clientAccount(ctx)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	certs, err := client.ObtainCertificateForSANs(ctx, account, key, []string{name})
	if err != nil {
		return nil, fmt.Errorf("ACME order for %s: %w", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	b := append(append([]byte{}, certs[0].ChainPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	c, err := parsePEMCert(b)
	if err != nil {
		return nil, fmt.Errorf("ACME certificate for %s: %w", name, err)
	}
	if err := a.o.Store.WriteSecret(certFile(name), b); err != nil {
		return nil, err
	}
	a.o.Log.Info("gateway: certificate obtained", "name", name, "not_after", c.Leaf.NotAfter, "took", time.Since(start).Round(time.Millisecond))
	return c, nil
}

func parsePEMCert(b []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, err
	}
	return &c, nil // Leaf is set by X509KeyPair
}

// clientAccount returns the ACME client and account, registering the account (key
// persisted) the first time.
func (a *ACME) clientAccount(ctx context.Context) (*acmez.Client, acme.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, a.account, nil
	}
	key, err := a.accountKey()
	if err != nil {
		return nil, acme.Account{}, err
	}
	c := &acmez.Client{
		Client:           &acme.Client{Directory: a.o.Directory, HTTPClient: a.o.HTTP, Logger: a.o.Log},
		ChallengeSolvers: map[string]acmez.Solver{acme.ChallengeTypeHTTP01: http01{a}},
	}
	acct := acme.Account{PrivateKey: key, TermsOfServiceAgreed: true}
	if a.o.Email != "" {
		acct.Contact = []string{"mailto:" + a.o.Email}
	}
	if acct, err = c.NewAccount(ctx, acct); err != nil {
		return nil, acme.Account{}, fmt.Errorf("ACME account at %s: %w", a.o.Directory, err)
	}
	a.client, a.account = c, acct
	return c, acct, nil
}

func (a *ACME) accountKey() (crypto.Signer, error) {
	b, err := a.o.Store.ReadSecret("acme-account.key")
	if err != nil {
		return nil, err
	}
	if b != nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, errors.New("acme-account.key: not PEM")
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("acme-account.key: %w", err)
		}
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("acme-account.key: not a signing key")
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return k, a.o.Store.WriteSecret("acme-account.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// http01 presents HTTP-01 challenges through the gateway's own port 80.
type http01 struct{ a *ACME }

func (s http01) Present(_ context.Context, c acme.Challenge) error {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.a.tokens[c.Identifier.Value+c.HTTP01ResourcePath()] = c.KeyAuthorization
	return nil
}

func (s http01) CleanUp(_ context.Context, c acme.Challenge) error {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	delete(s.a.tokens, c.Identifier.Value+c.HTTP01ResourcePath())
	return nil
}

// HandleHTTPChallenge implements CertSource: it answers a pending HTTP-01 challenge.
func (a *ACME) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	host := strings.ToLower(r.Host)
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	a.mu.Lock()
	ka, ok := a.tokens[host+r.URL.Path]
	a.mu.Unlock()
	if !ok {
		http.Error(w, "no such ACME challenge", http.StatusNotFound)
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(ka))
	return true
}

// scheduleRenewal renews name's certificate after two thirds of its life (mu held).
func (a *ACME) scheduleRenewal(name string, leaf *x509.Certificate) {
	if t := a.renew[name]; t != nil {
		t.Stop()
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	at := time.Until(leaf.NotBefore.Add(life * 2 / 3))
	a.renew[name] = time.AfterFunc(max(at, time.Minute), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		a.mu.Lock()
		delete(a.certs, name) // the next get loads (still valid) or renews
		a.mu.Unlock()
		if _, err := a.get(ctx, name); err != nil {
			a.o.Log.Warn("gateway: certificate renewal failed", "name", name, "err", err)
		}
	})
}

// Forget implements CertSource: the name's certificate and key are deleted from memory
// and disk and its renewal stops.
func (a *ACME) Forget(name string) {
	a.mu.Lock()
	delete(a.certs, name)
	if t := a.renew[name]; t != nil {
		t.Stop()
		delete(a.renew, name)
	}
	a.mu.Unlock()
	if err := a.o.Store.RemoveSecret(certFile(name)); err != nil {
		a.o.Log.Warn("gateway: removing a certificate", "name", name, "err", err)
	}
}

// NotAfter implements CertSource.
func (a *ACME) NotAfter(name string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.certs[name]; c != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// Close stops every renewal.
func (a *ACME) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for n, t := range a.renew {
		t.Stop()
		delete(a.renew, n)
	}
}
