package master

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// A held node's reason and since come back from nodes.json; a reason the
// master would refuse from bpctl is refused from the file too.
func TestSavedReason(t *testing.T) {
	dir := t.TempDir()
	since := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	m := &Master{cfg: Config{StateDir: dir}, nodes: map[int]*node{}}
	n := newNode(3, false, saved{})
	n.hold(localapi.StateUnavailable, "bad DIMM", since)
	n.hold(localapi.StateUnavailable, "bad DIMM, slot 2", since.Add(time.Hour)) // same state: since kept
	m.nodes[3] = n
	if err := m.saveLocked(); err != nil {
		t.Fatal(err)
	}
	got, err := loadSaved(dir)
	if err != nil {
		t.Fatal(err)
	}
	back := newNode(3, false, got[3])
	if back.held != localapi.StateUnavailable || back.reason != "bad DIMM, slot 2" || !back.since.Equal(since) {
		t.Errorf("node 3 back from nodes.json: %q %q %v, want unavailable, its reason, since %v", back.held, back.reason, back.since, since)
	}
	for _, bad := range []string{
		`{"1":{"reason":"x"}}`,
		`{"1":{"held":"error","reason":"two\nlines"}}`,
		`{"1":{"held":"error","reason":"` + strings.Repeat("x", 201) + `"}}`,
	} {
		os.WriteFile(filepath.Join(dir, nodesFile), []byte(bad), 0o644)
		if _, err := loadSaved(dir); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("loadSaved(%s) = %v, want a one-line error", bad, err)
		}
	}
}

// FuzzLoadSaved: whatever nodes.json holds, loadSaved refuses it in one
// line or returns settings the master could have written.
func FuzzLoadSaved(f *testing.F) {
	for _, s := range []string{`{}`, `{"3":{"held":"unavailable","reason":"bad DIMM","since":"2026-12-06T09:30:00Z"}}`,
		`{"1":{"reason":"x"}}`, `{"0":{"uid":5,"mode":73}}`, `{"-1":{}}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, nodesFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := loadSaved(dir)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for num, s := range got {
			if s.Reason != "" && (s.Held == "" || localapi.CheckReason(s.Reason) != nil) {
				t.Errorf("node %d: reason %q accepted with held %q", num, s.Reason, s.Held)
			}
		}
	})
}
