package bpcp

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/beneath"
)

// serveDir serves the tree at dir as a node's "/" to uid's rule, over a
// pipe, as bpcp's file server does on stdin and stdout.
func serveDir(t *testing.T, dir string, uid uint32) remoteFS {
	t.Helper()
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	h := &nodeFiles{root: root, follow: beneath.FollowAs(uid)}
	s := sftp.NewRequestServer(a, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	go s.Serve()
	c, err := sftp.NewClientPipe(b, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		s.Close()
		unix.Close(root)
	})
	return remoteFS{c: c}
}

// TestServerCopies: what bpcp does through the server, -p and -r both
// ways, lands as it should, modes (one the owner may not read) and
// times included.
func TestServerCopies(t *testing.T) {
	node, here := t.TempDir(), t.TempDir()
	rfs := serveDir(t, node, uint32(os.Geteuid()))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.MkdirAll(filepath.Join(here, "tree/sub"), 0o750)
	os.WriteFile(filepath.Join(here, "tree/sub/leaf"), []byte("leaf\n"), 0o200)
	os.WriteFile(filepath.Join(here, "tree/top"), []byte("top\n"), 0o640)
	os.Chtimes(filepath.Join(here, "tree/top"), old, old)
	cp := &copier{preserve: true, recursive: true}
	hereSide, nodeSide := side{fs: localFS{}, node: local}, side{fs: rfs, node: 0}
	if err := cp.copyAny(hereSide, filepath.Join(here, "tree"), nodeSide, "/t"); err != nil {
		t.Fatalf("copy to the node: %v", err)
	}
	for p, want := range map[string]os.FileMode{"t": os.ModeDir | 0o750, "t/sub": os.ModeDir | 0o750, "t/sub/leaf": 0o200, "t/top": 0o640} {
		fi, err := os.Lstat(filepath.Join(node, p))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s on the node: %v %v, want mode %v", p, fi, err, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(node, "t/top")); fi == nil || !fi.ModTime().Equal(old) {
		t.Errorf("t/top's time on the node: %v, want %v", fi, old)
	}
	if err := cp.copyAny(nodeSide, "/t", hereSide, filepath.Join(here, "back")); err != nil {
		t.Fatalf("copy from the node: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(here, "back/top")); string(b) != "top\n" {
		t.Errorf("back/top: %q", b)
	}
	// Left over from nothing: no temporary names.
	ents, _ := os.ReadDir(filepath.Join(node, "t"))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".bpcp-") {
			t.Errorf("a temporary file was left: %s", e.Name())
		}
	}
	// Errors keep their meaning.
	if _, err := rfs.Stat("/no/such"); err == nil || describe(err).Error() != "no such file or directory" {
		t.Errorf("stat of a missing path: %v", err)
	}
	if _, err := rfs.Stat("/t/top/x"); err == nil || describe(err).Error() != "not a directory" {
		t.Errorf("stat beneath a file: %v", err)
	}
	if err := rfs.c.Truncate("/t/top", 2); err != nil {
		t.Errorf("truncate: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(node, "t/top")); string(b) != "to" {
		t.Errorf("after truncate: %q", b)
	}
}

// TestServerRefusesForeignLinks: as root, another user's link is
// followed nowhere, in a path or at its end, to write or to read; root's
// own link is followed; as the link's owner, the link is followed.
func TestServerRefusesForeignLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give links other owners")
	}
	node, here := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(node, "etc"), 0o755)
	os.WriteFile(filepath.Join(node, "etc/passwd"), []byte("root\n"), 0o644)
	os.MkdirAll(filepath.Join(node, "tmp/udir"), 0o755)
	os.Symlink("/etc", filepath.Join(node, "tmp/udir/d"))
	os.Lchown(filepath.Join(node, "tmp/udir/d"), 1000, 1000)
	os.Symlink("/etc", filepath.Join(node, "tmp/rootlink"))
	src := filepath.Join(here, "out")
	os.WriteFile(src, []byte("x"), 0o644)
	cp := &copier{}
	hereSide := side{fs: localFS{}, node: local}

	asRoot := side{fs: serveDir(t, node, 0), node: 0}
	const refused = "/tmp/udir/d: symlink owned by uid 1000; not following it as root"
	if err := cp.copyAny(hereSide, src, asRoot, "/tmp/udir/d/out"); err == nil || !strings.HasSuffix(err.Error(), refused) {
		t.Errorf("root's copy through a user's link: %v, want %q", err, refused)
	}
	if _, err := asRoot.fs.Stat("/tmp/udir/d"); err == nil || describe(err).Error() != refused {
		t.Errorf("root's stat of a user's link: %v", err)
	}
	if err := cp.copyAny(asRoot, "/tmp/udir/d/passwd", hereSide, filepath.Join(here, "p")); err == nil || !strings.HasSuffix(err.Error(), refused) {
		t.Errorf("root's read through a user's link: %v, want %q", err, refused)
	}
	if _, err := os.Lstat(filepath.Join(node, "etc/out")); err == nil {
		t.Fatal("root's copy went through the user's link")
	}
	if err := cp.copyAny(hereSide, src, asRoot, "/tmp/rootlink/out"); err != nil {
		t.Errorf("root's copy through root's link: %v", err)
	}
	os.Remove(filepath.Join(node, "etc/out"))

	asOwner := side{fs: serveDir(t, node, 1000), node: 0}
	if _, err := asOwner.fs.Stat("/tmp/udir/d/passwd"); err != nil {
		t.Errorf("the owner's stat through their link: %v", err)
	}
}
