package initramfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/keys"
)

func TestBuildCache(t *testing.T) {
	o := testOptions(t)
	p1, err := Build(o)
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	if !strings.HasSuffix(p1, ".cpio.gz") || filepath.Dir(p1) != o.CacheDir {
		t.Errorf("Build = %s, want a .cpio.gz in %s", p1, o.CacheDir)
	}
	if fi, err := os.Stat(p1); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("image: %v, %v; want mode 0600 (it holds the node key)", fi.Mode(), err)
	}
	if fi, err := os.Stat(o.CacheDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if got, want := mustRead(t, p1), writeImage(t, o); !bytes.Equal(got, want) {
		t.Errorf("Build wrote %d bytes, Write %d: want the same image", len(got), len(want))
	}

	// Same inputs: the same file, untouched.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p1, old, old); err != nil {
		t.Fatal(err)
	}
	p2, err := Build(o)
	if err != nil || p2 != p1 {
		t.Fatalf("second Build = %s, %v; want %s", p2, err, p1)
	}
	if fi, _ := os.Stat(p2); !fi.ModTime().Equal(old) {
		t.Errorf("second Build rewrote the image (mtime %v, want %v)", fi.ModTime(), old)
	}

	// A new host key: a new image.
	for _, f := range []string{strings.TrimSuffix(o.HostKeyPub, ".pub"), o.HostKeyPub} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keys.LoadOrCreate(filepath.Dir(o.HostKeyPub)); err != nil {
		t.Fatal(err)
	}
	p3, err := Build(o)
	if err != nil || p3 == p1 {
		t.Fatalf("Build after a key change = %s, %v; want a new image", p3, err)
	}
	files, _ := readImage(t, mustRead(t, p3))
	if got := files[strings.TrimPrefix(HostKeyPath, "/")].data; !bytes.Equal(got, mustRead(t, o.HostKeyPub)) {
		t.Errorf("rebuilt image carries the old host key")
	}

	// Uncompressed is another image beside it.
	o.Uncompressed = true
	p4, err := Build(o)
	if err != nil || !strings.HasSuffix(p4, ".cpio") {
		t.Fatalf("Build(Uncompressed) = %s, %v; want a .cpio", p4, err)
	}
	if _, err := os.Stat(p3); err != nil {
		t.Errorf("the compressed image went away: %v", err)
	}
}

func TestBuildPrunes(t *testing.T) {
	o := testOptions(t)
	o.Uncompressed = true // fast; the names differ by an extra file
	var paths []string
	for i := range keepImages + 2 {
		o.Files = map[string][]byte{"/etc/n": {byte(i)}}
		p, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		// Distinct mtimes, oldest first, whatever the clock's grain.
		t0 := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(p, t0, t0)
		paths = append(paths, p)
	}
	stale := filepath.Join(o.CacheDir, ".tmp-"+cachePrefix+"x")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(stale, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	o.Files = map[string][]byte{"/etc/n": {99}}
	last, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(o.CacheDir)
	if len(ents) != keepImages {
		t.Errorf("cache holds %d files, want %d", len(ents), keepImages)
	}
	for _, p := range append(paths[len(paths)-keepImages+1:], last) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("newest image %s pruned: %v", filepath.Base(p), err)
		}
	}
}
