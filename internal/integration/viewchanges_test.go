package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewSeesChanges: a diskless node's kernel keeps what the view told
// it for long, and the master tells the node what changed before the next
// process starts there, so each change made on the master is seen by the
// very next run on the node, with no wait: a program overwritten in place
// (same size, same second), one renamed over, one deleted, a symbolic
// link pointed elsewhere, a file made where a run had found none, a
// directory renamed and made anew, and a file made unreadable, which a
// user who read it before may no longer read.
func TestViewSeesChanges(t *testing.T) {
	c := startCluster(t, 1, "--diskless")
	dir := publicTempDir(t)
	script := func(p, word string) {
		t.Helper()
		if err := os.WriteFile(p+".tmp", []byte("#!/bin/sh\necho "+word+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what, want string, argv ...string) {
		t.Helper()
		r := c.run("", "bpsh", append([]string{"0"}, argv...)...)
		if r.stdout != want {
			t.Errorf("%s: %q %q exit %d, want %q", what, r.stdout, r.stderr, r.code, want)
		}
	}

	// Overwritten in place: same size, most likely the same second.
	prog := filepath.Join(dir, "prog")
	script(prog, "one")
	expect("first version", "one\n", prog)
	expect("first version again", "one\n", prog)
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho two\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	expect("overwritten in place", "two\n", prog)

	// Renamed over.
	script(prog, "six")
	expect("renamed over", "six\n", prog)

	// Deleted.
	os.Remove(prog)
	if r := c.run("", "bpsh", "0", prog); r.code == 0 {
		t.Errorf("deleted program ran: %q", r.stdout)
	}

	// A link pointed elsewhere.
	script(filepath.Join(dir, "a"), "aaa")
	script(filepath.Join(dir, "b"), "bbb")
	link := filepath.Join(dir, "link")
	os.Symlink("a", link)
	expect("link to a", "aaa\n", link)
	expect("link to a again", "aaa\n", link)
	os.Remove(link)
	os.Symlink("b", link)
	expect("link changed to b", "bbb\n", link)

	// Made where a run found nothing: the node's kernel must not keep
	// that it is missing.
	later := filepath.Join(dir, "later")
	if r := c.run("", "bpsh", "0", "cat", later); r.code == 0 {
		t.Errorf("cat of a file not yet made: %q", r.stdout)
	}
	os.WriteFile(later, []byte("made later\n"), 0o644)
	expect("a file made after a run found none", "made later\n", "cat", later)

	// A directory renamed away and made anew.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	script(filepath.Join(sub, "p"), "old")
	expect("in a directory", "old\n", filepath.Join(sub, "p"))
	os.Rename(sub, sub+".gone")
	os.Mkdir(sub, 0o755)
	script(filepath.Join(sub, "p"), "new")
	expect("in a directory made anew", "new\n", filepath.Join(sub, "p"))

	// Made unreadable: a user who read it before reads it no more.
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("not yet secret\n"), 0o644)
	bin := userBinary(t)
	if r := c.as(t, bin, 65534, "bpsh", "0", "cat", secret); r.stdout != "not yet secret\n" {
		t.Fatalf("nobody reading a public file: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
	if r := c.as(t, bin, 65534, "bpsh", "0", "cat", secret); r.stdout != "not yet secret\n" {
		t.Fatalf("nobody reading a public file again: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
	os.Chmod(secret, 0o600)
	if r := c.as(t, bin, 65534, "bpsh", "0", "cat", secret); r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("nobody reading a file made root's alone: %q %q exit %d, want Permission denied", r.stdout, r.stderr, r.code)
	}
}
