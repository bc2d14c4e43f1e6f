package identity

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys", "me.key")
	k, created, err := LoadOrCreate(p)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	k2, created, err := LoadOrCreate(p)
	if err != nil || created || k2.ID() != k.ID() {
		t.Fatalf("reload: created=%v err=%v ids %s %s", created, err, k.ID(), k2.ID())
	}
	if err := k.Save(p); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Save over existing key: %v, want ErrExist", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad"), []byte("zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "bad")); err == nil {
		t.Fatal("loading a bad key file must fail")
	}
}

func TestParseID(t *testing.T) {
	k, _ := Generate()
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{k.ID(), true},
		{strings.ToUpper(k.ID()), false},
		{k.ID()[:10], false},
		{strings.Repeat("g", IDLen), false},
		{"", false},
	} {
		if _, err := ParseID(tc.id); (err == nil) != tc.ok {
			t.Errorf("ParseID(%q) err=%v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k, _ := Generate()
	other, _ := Generate()
	body := []byte(`{"name":"f1"}`)
	sign := func(key *Key, method, target string, b []byte, at time.Time) *httptestReq {
		r := httptest.NewRequest(method, target, bytes.NewReader(b))
		if err := key.SignRequest(r, b, at); err != nil {
			t.Fatal(err)
		}
		return &httptestReq{r: r, body: b}
	}
	cases := []struct {
		name string
		req  func() *httptestReq
		want error
	}{
		{"valid", func() *httptestReq { return sign(k, "POST", "/v1/farms", body, now) }, nil},
		{"valid with query", func() *httptestReq { return sign(k, "GET", "/v1/x?a=1", nil, now) }, nil},
		{"unsigned", func() *httptestReq { return &httptestReq{r: httptest.NewRequest("POST", "/v1/farms", nil)} }, ErrUnsigned},
		{"body changed", func() *httptestReq {
			r := sign(k, "POST", "/v1/farms", body, now)
			r.body = []byte(`{"name":"f2"}`)
			return r
		}, ErrBadSignature},
		{"path changed", func() *httptestReq {
			r := sign(k, "POST", "/v1/farms", body, now)
			r.r.URL.Path = "/v1/nodes"
			return r
		}, ErrBadSignature},
		{"query changed", func() *httptestReq { r := sign(k, "GET", "/v1/x?a=1", nil, now); r.r.URL.RawQuery = "a=2"; return r }, ErrBadSignature},
		{"method changed", func() *httptestReq { r := sign(k, "POST", "/v1/farms", body, now); r.r.Method = "PUT"; return r }, ErrBadSignature},
		{"key swapped", func() *httptestReq {
			r := sign(k, "POST", "/v1/farms", body, now)
			r.r.Header.Set(HeaderKey, other.ID())
			return r
		}, ErrBadSignature},
		{"expired", func() *httptestReq { return sign(k, "POST", "/v1/farms", body, now.Add(-61*time.Second)) }, ErrExpired},
		{"future", func() *httptestReq { return sign(k, "POST", "/v1/farms", body, now.Add(61*time.Second)) }, ErrExpired},
		{"bad time header", func() *httptestReq {
			r := sign(k, "POST", "/v1/farms", body, now)
			r.r.Header.Set(HeaderTime, "soon")
			return r
		}, ErrBadSignature},
		{"bad sig header", func() *httptestReq {
			r := sign(k, "POST", "/v1/farms", body, now)
			r.r.Header.Set(HeaderSignature, "!!")
			return r
		}, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Now: func() time.Time { return now }}
			r := tc.req()
			id, err := v.Verify(r.r, r.body)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if tc.want == nil && id != k.ID() {
				t.Fatalf("Verify id %s, want %s", id, k.ID())
			}
		})
	}
}

func TestReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{Now: func() time.Time { return now }}
	k, _ := Generate()
	r := httptest.NewRequest("POST", "/v1/nodes/1/heartbeat", nil)
	if err := k.SignRequest(r, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(r, nil); err != nil {
		t.Fatalf("first: %v", err)
	}
	if _, err := v.Verify(r, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("second: %v, want ErrReplay", err)
	}
	now = now.Add(3 * time.Minute) // forgotten after the window, but then expired
	if _, err := v.Verify(r, nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("late replay: %v, want ErrExpired", err)
	}
	r2 := httptest.NewRequest("POST", "/v1/nodes/1/heartbeat", nil)
	if err := k.SignRequest(r2, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(r2, nil); err != nil {
		t.Fatalf("fresh request: %v", err)
	}
	if len(v.seen) != 1 {
		t.Fatalf("replay cache not swept: %d entries, want 1", len(v.seen))
	}
}

type httptestReqT = http.Request

type httptestReq struct {
	r    *httptestReqT
	body []byte
}

func FuzzParseID(f *testing.F) {
	k, _ := Generate()
	f.Add(k.ID())
	f.Add("00")
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParseID(s)
		if err == nil && len(pub) != 32 {
			t.Fatalf("accepted %q with %d bytes", s, len(pub))
		}
	})
}

func BenchmarkSignVerify(b *testing.B) {
	k, _ := Generate()
	v := &Verifier{}
	body := []byte(`{"version":"1"}`)
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/nodes/1/heartbeat", nil)
		_ = k.SignRequest(r, body, time.Now())
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the registry's share of BenchmarkSignVerify: verifying one signed
// request (signature, freshness, replay memory), signed before the timer starts.
func BenchmarkVerify(b *testing.B) {
	k, _ := Generate()
	v := &Verifier{}
	body := []byte(`{"version":"1"}`)
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("POST", "/v1/nodes/1/heartbeat", nil)
		_ = k.SignRequest(reqs[i], body, time.Now())
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Verify(reqs[i], body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerify: arbitrary signature headers never panic and are never accepted (the
// seed is a real signature, but expired).
func FuzzVerify(f *testing.F) {
	k, _ := Generate()
	r := httptest.NewRequest("POST", "/v1/farms", nil)
	_ = k.SignRequest(r, []byte("x"), time.Now().Add(-time.Hour)) // expired: never acceptable
	f.Add(r.Header.Get(HeaderKey), r.Header.Get(HeaderTime), r.Header.Get(HeaderNonce), r.Header.Get(HeaderSignature), []byte("y"))
	f.Fuzz(func(t *testing.T, key, ts, nonce, sig string, body []byte) {
		r := httptest.NewRequest("POST", "/v1/farms", nil)
		r.Header.Set(HeaderKey, key)
		r.Header.Set(HeaderTime, ts)
		r.Header.Set(HeaderNonce, nonce)
		r.Header.Set(HeaderSignature, sig)
		if id, err := (&Verifier{}).Verify(r, body); err == nil {
			t.Fatalf("accepted a request nobody signed (key %s)", id)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			return
		}
		if _, err := ParseID(k.ID()); err != nil {
			t.Fatalf("parsed key has a bad id: %v", err)
		}
	})
}
