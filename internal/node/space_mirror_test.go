package node

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseGroups(t *testing.T) {
	for _, c := range []struct {
		stat      string
		pgid, sid int
		wantErr   bool
	}{
		{"12 (sh) S 1 12 7 0 -1", 12, 7, false},
		{"12 (a) b (c) ) R 1 30 40 0", 30, 40, false},
		{"12 (sh) S 1", 0, 0, true},
		{"12 sh S 1 2 3", 0, 0, true},
		{"12 (sh) S 1 x 3", 0, 0, true},
		{"12 (sh) S 1 2 y", 0, 0, true},
	} {
		pgid, sid, err := parseGroups([]byte(c.stat))
		if (err != nil) != c.wantErr || pgid != c.pgid || sid != c.sid {
			t.Errorf("%q: %d %d %v, want %d %d (error %v)", c.stat, pgid, sid, err, c.pgid, c.sid, c.wantErr)
		}
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	pgid, sid, err := parseGroups(b)
	if err != nil || pgid != getpgrp() || sid != getsid() {
		t.Errorf("own stat: %d %d %v, want %d %d", pgid, sid, err, getpgrp(), getsid())
	}
}

func FuzzParseGroups(f *testing.F) {
	f.Add([]byte("12 (sh) S 1 12 7 0 -1"))
	f.Add([]byte("1 ()) R 0 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := parseGroups(b); err != nil && err.Error() == "" {
			t.Fatal("an empty error")
		}
	})
}

func getpgrp() int { p, _ := unix.Getpgid(0); return p }
func getsid() int  { s, _ := unix.Getsid(0); return s }
