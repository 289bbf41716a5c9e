package contentcache

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sumPath(t *testing.T, h *Hashes, p string) Sum {
	t.Helper()
	sum, _, err := h.SumPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// A file rewritten with its size and mtime put back (touch -r) has a new
// ctime, so its sum is taken again: the master never answers with the
// sum of content the file no longer has.
func TestHashesSameSizeAndMtime(t *testing.T) {
	h := &Hashes{now: func() time.Time { return time.Now().Add(time.Hour) }}
	p := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(p, []byte("version A"), 0o755)
	fi, _ := os.Stat(p)
	if got := sumPath(t, h, p); got != sha256.Sum256([]byte("version A")) {
		t.Fatalf("sum = %s", got)
	}
	if h.Len() != 1 {
		t.Errorf("%d sums kept, want 1", h.Len())
	}
	os.WriteFile(p, []byte("version B"), 0o755)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if fi2, _ := os.Stat(p); fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatal("size and mtime not put back")
	}
	if got := sumPath(t, h, p); got != sha256.Sum256([]byte("version B")) {
		t.Errorf("sum after a rewrite with size and mtime put back = %s, want version B's", got)
	}
}

// An unchanged file is read once; a file changed within racyWindow is
// read on every ask (its next write may not move ctime).
func TestHashesKeepsOnlySettledFiles(t *testing.T) {
	now := time.Now()
	h := &Hashes{now: func() time.Time { return now }}
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte(strings.Repeat("x", 1000)), 0o644)
	sumPath(t, h, p)
	if h.Len() != 0 {
		t.Errorf("a file written just now: %d sums kept, want 0", h.Len())
	}
	now = now.Add(time.Minute)
	sumPath(t, h, p)
	if h.Len() != 1 {
		t.Errorf("a settled file: %d sums kept, want 1", h.Len())
	}
	// A hit is a hit: the kept sum is what comes back, without a read
	// (shown by a forged entry).
	f, _ := os.Open(p)
	defer f.Close()
	st, _ := stateOf(f)
	h.m[st] = Sum{9}
	if got := sumPath(t, h, p); got != (Sum{9}) {
		t.Errorf("an unchanged file was read again: %s", got)
	}
}

func TestHashesRefusesOtherThanRegular(t *testing.T) {
	var h Hashes
	if _, _, err := h.SumPath(t.TempDir()); err == nil {
		t.Error("a directory has a sum")
	}
	if _, _, err := h.SumPath("/nonexistent/x"); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestParseSum(t *testing.T) {
	want := sha256.Sum256([]byte("x"))
	s := Sum(want).String()
	if got, err := ParseSum(s); err != nil || got != want {
		t.Errorf("ParseSum(%q) = %v, %v", s, got, err)
	}
	for _, bad := range []string{"", s[:63], s + "0", strings.ToUpper(s), "../" + s[3:], s[:62] + "g0"} {
		if _, err := ParseSum(bad); err == nil {
			t.Errorf("ParseSum(%q) accepted", bad)
		}
	}
}

// FuzzParseSum: a sum names a file in the cache directory: what ParseSum
// takes is exactly what String gives back, 64 hex digits, nothing else.
func FuzzParseSum(f *testing.F) {
	f.Add(Sum(sha256.Sum256(nil)).String())
	f.Add("0000000000000000000000000000000000000000000000000000000000000000")
	f.Add("../../../../etc/passwd")
	f.Add(strings.Repeat("A", 64))
	f.Fuzz(func(t *testing.T, s string) {
		sum, err := ParseSum(s)
		if err != nil {
			return
		}
		if sum.String() != s {
			t.Fatalf("ParseSum(%q) = %s: not one spelling", s, sum)
		}
		if strings.ContainsAny(s, "/.\x00") || len(s) != 64 {
			t.Fatalf("accepted %q", s)
		}
	})
}
