package bpcp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY is a pseudo-terminal pair: the master side to read what was
// drawn, the terminal side to draw on.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return ptm, pts
}

// A large file copied with stderr on a terminal draws a bar that ends at
// 100% and a newline; a small one, or stderr that is no terminal, none.
func TestProgressBar(t *testing.T) {
	_, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if progressBar(w) != nil {
		t.Errorf("a bar for a pipe, want none: scripts read bpcp's stderr")
	}
	ptm, pts := openPTY(t)
	start := progressBar(pts)
	if start == nil {
		t.Fatal("no bar on a terminal")
	}
	if start("small", bigFile-1) != nil {
		t.Errorf("a bar for a file under %d bytes", bigFile)
	}
	const size = 3 * bigFile
	bar := start("results.dat", size)
	chunk := bytes.Repeat([]byte{1}, 64<<10)
	for n := 0; n < size; n += len(chunk) {
		bar.Write(chunk)
	}
	pts.Close()
	ptm.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got bytes.Buffer
	io.Copy(&got, ptm) // until the terminal side is closed (EIO)
	out := got.String()
	if !strings.Contains(out, "results.dat") || !strings.Contains(out, "[====================] 100%") || !strings.HasSuffix(strings.TrimRight(out, "\r\n"), "MB/s") || !strings.Contains(out, "\n") {
		t.Errorf("the bar drew %q, want results.dat at 100%% and a newline", out)
	}
}
