package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Request signature headers.
const (
	HeaderKey       = "X-Zos-Key"       // key id (hex public key)
	HeaderTime      = "X-Zos-Time"      // unix seconds
	HeaderNonce     = "X-Zos-Nonce"     // 16 random bytes, hex
	HeaderSignature = "X-Zos-Signature" // base64 ed25519 signature of Canonical
)

// DefaultWindow is how far a request's timestamp may be from the verifier's clock.
const DefaultWindow = 60 * time.Second

// Errors a Verifier returns (wrapped); callers map them to 401.
var (
	ErrUnsigned     = errors.New("request is not signed")
	ErrBadSignature = errors.New("bad signature")
	ErrExpired      = errors.New("request timestamp outside the freshness window")
	ErrReplay       = errors.New("request replayed")
)

// Canonical is the byte string that is signed: a version tag, method, path with raw
// query, SHA-256 of the body, timestamp, key id and nonce, one per line.
func Canonical(method, pathQuery string, body []byte, ts int64, keyID, nonce string) []byte {
	sum := sha256.Sum256(body)
	return fmt.Appendf(nil, "zosnet-v1\n%s\n%s\n%s\n%d\n%s\n%s",
		method, pathQuery, hex.EncodeToString(sum[:]), ts, keyID, nonce)
}

// PathQuery returns the path plus "?query" (if any) of r, as signed.
func PathQuery(r *http.Request) string {
	p := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	return p
}

// SignRequest sets the signature headers on req for body (which must be req's body).
func (k *Key) SignRequest(req *http.Request, body []byte, now time.Time) error {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return fmt.Errorf("sign request: nonce: %w", err)
	}
	nonce := hex.EncodeToString(n[:])
	ts := now.Unix()
	sig := k.Sign(Canonical(req.Method, PathQuery(req), body, ts, k.ID(), nonce))
	req.Header.Set(HeaderKey, k.ID())
	req.Header.Set(HeaderTime, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// Verifier checks signed requests: signature, freshness and replays. Signatures seen
// within the window are remembered, so each signed request is accepted once. Safe for
// concurrent use. The replay memory is per process.
type Verifier struct {
	Window time.Duration    // 0 means DefaultWindow
	Now    func() time.Time // nil means time.Now

	mu        sync.Mutex
	seen      map[string]time.Time // signature → when it may be forgotten
	lastSweep time.Time
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) window() time.Duration {
	if v.Window > 0 {
		return v.Window
	}
	return DefaultWindow
}

// Verify checks r's signature over body and returns the signer's key id. An unsigned
// request gives ErrUnsigned.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	keyID, sigB64 := r.Header.Get(HeaderKey), r.Header.Get(HeaderSignature)
	tsS, nonce := r.Header.Get(HeaderTime), r.Header.Get(HeaderNonce)
	if keyID == "" && sigB64 == "" {
		return "", ErrUnsigned
	}
	pub, err := ParseID(keyID)
	if err != nil {
		return "", fmt.Errorf("%w: header %s: %v", ErrBadSignature, HeaderKey, err)
	}
	ts, err := strconv.ParseInt(tsS, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: header %s: not a unix time", ErrBadSignature, HeaderTime)
	}
	if len(nonce) < 16 || len(nonce) > 64 {
		return "", fmt.Errorf("%w: header %s: 16 to 64 characters", ErrBadSignature, HeaderNonce)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", fmt.Errorf("%w: header %s: not a base64 ed25519 signature", ErrBadSignature, HeaderSignature)
	}
	if !ed25519.Verify(pub, Canonical(r.Method, PathQuery(r), body, ts, keyID, nonce), sig) {
		return "", ErrBadSignature
	}
	now, w := v.now(), v.window()
	if d := now.Sub(time.Unix(ts, 0)); d > w || d < -w {
		return "", fmt.Errorf("%w: off by %s (window ±%s)", ErrExpired, d.Round(time.Second), w)
	}
	if !v.remember(string(sig), now.Add(2*w)) {
		return "", ErrReplay
	}
	return keyID, nil
}

// remember records sig until forget; false if it was already there.
func (v *Verifier) remember(sig string, forget time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = make(map[string]time.Time)
	}
	now := v.now()
	if now.Sub(v.lastSweep) > time.Second {
		for s, exp := range v.seen {
			if now.After(exp) {
				delete(v.seen, s)
			}
		}
		v.lastSweep = now
	}
	if _, dup := v.seen[sig]; dup {
		return false
	}
	v.seen[sig] = forget
	return true
}
