// Package sftplist hands an sftp server a directory's entries read
// beforehand: the master's file service, the node view's helper and
// bpcp's server each list a directory at once and then give it out in
// the pieces the client asks for.
package sftplist

import (
	"io"
	"io/fs"
)

// Entries is a fixed list of entries: an sftp.ListerAt.
type Entries []fs.FileInfo

// ListAt copies the entries from off on into out; io.EOF says there are
// no more after them.
func (l Entries) ListAt(out []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}
