package sftplist

import (
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/pkg/sftp"
)

var _ sftp.ListerAt = Entries(nil)

// TestListAt: entries come out in pieces from any offset, io.EOF with
// the last piece (or past the end), and nothing is skipped or repeated.
func TestListAt(t *testing.T) {
	dir := t.TempDir()
	var all Entries
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		if err := os.WriteFile(dir+"/"+name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fi)
	}
	for _, c := range []struct {
		off, size, n int
		eof          bool
	}{
		{0, 2, 2, false}, {2, 2, 2, false}, {4, 2, 1, true}, {0, 5, 5, false},
		{0, 6, 5, true}, {5, 2, 0, true}, {9, 2, 0, true}, {3, 0, 0, false},
	} {
		out := make([]fs.FileInfo, c.size)
		n, err := all.ListAt(out, int64(c.off))
		if n != c.n || (err == io.EOF) != c.eof || (err != nil && err != io.EOF) {
			t.Errorf("ListAt(%d of room, from %d) = %d, %v; want %d, EOF %v", c.size, c.off, n, err, c.n, c.eof)
			continue
		}
		for i := range n {
			if out[i].Name() != all[c.off+i].Name() {
				t.Errorf("ListAt(%d of room, from %d): entry %d is %s, want %s", c.size, c.off, i, out[i].Name(), all[c.off+i].Name())
			}
		}
	}
}
