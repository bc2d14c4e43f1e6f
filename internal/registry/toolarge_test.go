package registry

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestTooLargeOverHTTP2 sends a 10 MB body over HTTP/2 (a frame-level client, which
// sees exactly what the server sends) and over HTTP/1.1: each time the answer is 413
// with its JSON message naming the field, and over HTTP/2 the stream ends cleanly,
// without RST_STREAM (issue 19: the message arrived in 5 of 10 tries when the reset
// reached the client first).
func TestTooLargeOverHTTP2(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "grid.db"))
	srv, err := New(t.Context(), Config{Store: st, Log: testLog(), Rate: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	body := bytes.Repeat([]byte("a"), 10<<20)
	for try := range 3 {
		status, msg, reset := h2Post(t, hs, "/v1/networks", body)
		var e gridapi.Error
		if err := json.Unmarshal(msg, &e); err != nil || status != 413 || e.Field != "body" || !strings.Contains(e.Error, "larger than") || reset != "" {
			t.Errorf("HTTP/2 try %d: %d %q (reset: %q), want 413 with its message and no reset", try, status, msg, reset)
		}
	}
	tr := hs.Client().Transport.(*http.Transport).Clone()
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	resp, err := (&http.Client{Transport: tr}).Post(hs.URL+"/v1/networks", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e gridapi.Error
	if derr := json.NewDecoder(resp.Body).Decode(&e); derr != nil || resp.ProtoMajor != 1 || resp.StatusCode != 413 || e.Field != "body" {
		t.Errorf("%s: %d %+v (%v), want 413 with its message", resp.Proto, resp.StatusCode, e, derr)
	}
}

// h2Post posts body on stream 1 of a new HTTP/2 connection, honouring flow control,
// and returns the answer's status and body, and the RST_STREAM error code if the
// server reset the stream ("" if not).
func h2Post(t *testing.T, hs *httptest.Server, path string, body []byte) (int, []byte, string) {
	t.Helper()
	cfg := hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", hs.Listener.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	var mu sync.Mutex // guards fr's writes and the state below
	cond := sync.NewCond(&mu)
	connWin, streamWin := int64(65535), int64(65535)
	var status int
	var answer bytes.Buffer
	var reset string
	done, pings := false, 0
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", hs.Listener.Addr().String()},
		{":path", path}, {"content-type", "application/json"}, {"content-length", strconv.Itoa(len(body))}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	mu.Lock()
	err = fr.WriteSettings()
	if err == nil {
		err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	}
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status, _ = strconv.Atoi(f.Value)
		}
	})
	go func() { // reader: frames from the server
		defer func() { mu.Lock(); done = true; cond.Broadcast(); mu.Unlock() }()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			mu.Lock()
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
						streamWin += int64(v) - 65535
					}
					_ = fr.WriteSettingsAck()
				}
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					connWin += int64(f.Increment)
				} else {
					streamWin += int64(f.Increment)
				}
			case *http2.HeadersFrame:
				_, _ = dec.Write(f.HeaderBlockFragment())
			case *http2.DataFrame:
				answer.Write(f.Data())
				if n := len(f.Data()); n > 0 {
					_ = fr.WriteWindowUpdate(0, uint32(n))
				}
			case *http2.RSTStreamFrame:
				reset = f.ErrCode.String()
			case *http2.GoAwayFrame:
				reset = fmt.Sprint("GOAWAY ", f.ErrCode)
			}
			if f.Header().Type == http2.FrameData && f.Header().Flags.Has(http2.FlagDataEndStream) {
				// a reset is written right after the answer: two ping round trips
				// later it has arrived, if there is one
				_ = fr.WritePing(false, [8]byte{1})
			}
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
				if pings++; pings == 1 {
					_ = fr.WritePing(false, [8]byte{2})
				}
			}
			cond.Broadcast()
			mu.Unlock()
			if pings == 2 || reset != "" {
				return
			}
		}
	}()
	mu.Lock()
	defer mu.Unlock()
	for sent := 0; sent < len(body) && !done; {
		if connWin <= 0 || streamWin <= 0 {
			cond.Wait()
			continue
		}
		n := min(16384, len(body)-sent, int(connWin), int(streamWin))
		if err := fr.WriteData(1, sent+n == len(body), body[sent:sent+n]); err != nil {
			break
		}
		sent, connWin, streamWin = sent+n, connWin-int64(n), streamWin-int64(n)
	}
	for !done {
		cond.Wait()
	}
	return status, answer.Bytes(), reset
}
