package localapi

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestGetSeesThisProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cred, err := PeerCred(s)
	if err != nil {
		t.Fatal(err)
	}
	if cred.PID != os.Getpid() || cred.UID != uint32(os.Getuid()) || cred.GID != uint32(os.Getgid()) {
		t.Errorf("Get = %+v, want pid %d uid %d gid %d", cred, os.Getpid(), os.Getuid(), os.Getgid())
	}
	want, _ := os.Getgroups()
	got := make([]int, len(cred.Groups))
	for i, g := range cred.Groups {
		got[i] = int(g)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}
}
