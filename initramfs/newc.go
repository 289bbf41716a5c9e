package initramfs

import (
	"bufio"
	"fmt"
	"io"
)

// The file types of a newc header's mode, as the kernel's unpacker reads
// them.
const (
	modeType = 0o170000
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

// newcTrailer is the name of the record that ends an archive.
const newcTrailer = "TRAILER!!!"

// record is one newc entry: a path without its leading slash, its header
// fields and its content (a file's bytes, a symlink's target).
type record struct {
	name           string
	ino, mode      uint64
	nlink          uint64
	rmajor, rminor uint64
	data           []byte
}

// writeNewc writes recs and the trailer as a newc ("070701") cpio archive,
// the format the kernel unpacks an initramfs from: a 110-byte header of
// thirteen 8-digit hex fields, the NUL-terminated name, the data, each
// padded to 4 bytes. Written here rather than through a cpio library: the
// one we had linked a humanizer and a directory lister into every applet,
// whose package initialisers each run paid for (UID, GID and mtime stay 0,
// so equal inputs give equal bytes).
func writeNewc(w io.Writer, recs []record) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var pos int64
	put := func(b []byte) {
		n, _ := bw.Write(b) // a failed write stays in bw; Flush reports it
		pos += int64(n)
	}
	pad := func() {
		if n := (4 - pos%4) % 4; n > 0 {
			put(make([]byte, n))
		}
	}
	one := func(r record) {
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			r.ino, r.mode, 0, 0, r.nlink, 0, len(r.data), 0, 0, r.rmajor, r.rminor, len(r.name)+1, 0)
		put([]byte(hdr))
		put(append([]byte(r.name), 0))
		pad()
		if len(r.data) > 0 {
			put(r.data)
			pad()
		}
	}
	for _, r := range recs {
		one(r)
	}
	one(record{name: newcTrailer})
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initramfs: write: %w", err)
	}
	return nil
}
