package master

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func dupFD(t *testing.T, f *os.File) int {
	t.Helper()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestOutputsShared(t *testing.T) {
	var o outputs
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	a, err := o.open(dupFD(t, wr))
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.open(dupFD(t, wr))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two ghosts' descriptors of one pipe: two files in the master, want one")
	}
	rd2, wr2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd2.Close()
	c, err := o.open(dupFD(t, wr2))
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Errorf("another pipe got the first pipe's file")
	}
	wr.Close()
	wr2.Close()
	o.release(c)

	// The reader sees EOF only once the last ghost is done with it.
	o.release(a)
	if _, err := b.Write([]byte("x")); err != nil {
		t.Fatalf("write after one of two releases: %v", err)
	}
	o.release(b)
	buf := make([]byte, 8)
	if n, _ := rd.Read(buf); n != 1 {
		t.Fatalf("read %d bytes, want the 1 written", n)
	}
	if n, err := rd.Read(buf); n != 0 || err == nil {
		t.Errorf("after the last release: read %d, %v; want EOF (the master's copy closed)", n, err)
	}
	if len(o.files) != 0 {
		t.Errorf("outputs still holds %d entries after every release", len(o.files))
	}
}

func TestOutputsRegularFileByDescription(t *testing.T) {
	var o outputs
	path := filepath.Join(t.TempDir(), "out")
	f1, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	a, _ := o.open(dupFD(t, f1))
	b, _ := o.open(dupFD(t, f1))
	c, _ := o.open(dupFD(t, f2))
	if a == nil || a != b {
		t.Errorf("dups of one open file: not shared")
	}
	if c == a {
		t.Errorf("another open of the same file shares the first one's offset, want its own")
	}
	for _, f := range []*os.File{a, b, c} {
		o.release(f)
	}
}

func TestIsDevNull(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	if !isDevNull(int(null.Fd())) || isDevNull(int(zero.Fd())) {
		t.Errorf("isDevNull(/dev/null) = %v, isDevNull(/dev/zero) = %v", isDevNull(int(null.Fd())), isDevNull(int(zero.Fd())))
	}
}
