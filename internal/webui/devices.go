package webui

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/zosnet/zosnet/internal/usernet"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// deviceStore keeps the wg-quick files of devices added in this session, in memory only,
// behind random references, until they expire.
type deviceStore struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]storedDevice
}

type storedDevice struct {
	d       usernet.Device
	expires time.Time
}

func newDeviceStore(ttl time.Duration) *deviceStore {
	return &deviceStore{ttl: ttl, m: map[string]storedDevice{}}
}

func (ds *deviceStore) put(d usernet.Device) (string, time.Time, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	ref := hex.EncodeToString(b)
	exp := time.Now().Add(ds.ttl)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for k, v := range ds.m {
		if time.Now().After(v.expires) {
			delete(ds.m, k)
		}
	}
	ds.m[ref] = storedDevice{d: d, expires: exp}
	return ref, exp, nil
}

func (ds *deviceStore) get(ref string) (usernet.Device, bool) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	v, ok := ds.m[ref]
	if !ok || time.Now().After(v.expires) {
		delete(ds.m, ref)
		return usernet.Device{}, false
	}
	return v.d, true
}

// deviceFile serves a device's wg-quick file (as a download) or its QR code (PNG).
func (s *Server) deviceFile(w http.ResponseWriter, r *http.Request) {
	d, ok := s.devices.get(r.PathValue("ref"))
	if !ok {
		refuse(w, http.StatusNotFound, "device", "no such device file in this session (they are kept 10 minutes): add the device again")
		return
	}
	switch file := r.PathValue("file"); {
	case file == "qr.png":
		png, err := qrcode.Encode(string(d.Conf), qrcode.Medium, 384)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	case strings.HasSuffix(file, ".conf"):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+wgquick.DefaultFileName(d.Network.Name, d.Name)+`"`)
		_, _ = w.Write(d.Conf)
	default:
		refuse(w, http.StatusNotFound, "file", "want NAME.conf or qr.png")
	}
}
