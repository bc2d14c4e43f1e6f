package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/blakesmith/ar"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// WalkDeb calls fn for every entry of the data archive (data.tar.xz, .zst, .gz or
// plain) of the Debian package at path, in archive order. Entry names are cleaned of
// their leading "./". fn may read r until it returns; returning ErrStop ends the walk
// without error. Nothing is installed or written.
func WalkDeb(path string, fn func(h *tar.Header, r io.Reader) error) error {
	return WalkDebMember(path, "data.tar", fn)
}

// WalkDebMember is WalkDeb for another tar member of the package: "control.tar" (the
// maintainer scripts, conffiles) or "data.tar".
func WalkDebMember(path, member string, fn func(h *tar.Header, r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open package: %w", err)
	}
	defer f.Close()
	a := ar.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		h, err := a.Next()
		if err == io.EOF {
			return fmt.Errorf("package %s: no %s member (not a Debian package?)", path, member)
		}
		if err != nil {
			return fmt.Errorf("package %s: not an ar archive: %w", path, err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if !strings.HasPrefix(name, member) {
			continue
		}
		dec, closer, err := decompressor(name, bufio.NewReaderSize(a, 1<<20))
		if err != nil {
			return fmt.Errorf("package %s: %s: %w", path, name, err)
		}
		defer closer()
		return walkTar(tar.NewReader(dec), fn, path)
	}
}

// ErrStop ends WalkDeb early without an error.
var ErrStop = errors.New("stop walking")

func walkTar(tr *tar.Reader, fn func(h *tar.Header, r io.Reader) error, path string) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("package %s: data archive: %w", path, err)
		}
		h.Name = strings.TrimPrefix(h.Name, "./")
		if err := fn(h, tr); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
}

func decompressor(member string, r io.Reader) (io.Reader, func(), error) {
	switch {
	case strings.HasSuffix(member, ".xz"):
		x, err := xz.NewReader(r)
		return x, func() {}, err
	case strings.HasSuffix(member, ".zst"):
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	case strings.HasSuffix(member, ".gz"):
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return g, func() { g.Close() }, nil
	case member == "data.tar":
		return r, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown compression")
}
