// Package contentcache is how the master's files are cached by content:
// the master names each version of a file by the SHA-256 of its bytes
// (Hashes, which hashes a file once per change), and a node keeps one copy
// per content in its memory (Cache), whatever the paths that have it.
//
// Both users of the master's files on a node share it: the view of the
// master's files (package nodeview) and the push of a program's closure
// to a node without one (package slave). The master's answer to "what is
// the content of this path, as this user" is the check a second run costs:
// a copy with that sum is used as it is, a file changed on the master has
// another sum and is fetched again, whatever its size and mtime say, and
// two paths with the same content are stored once.
package contentcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
)

// Sum is the SHA-256 of a file's content: the name of its copy.
type Sum [sha256.Size]byte

// StatExtension is the sftp extended attribute in which the master's file
// service gives the sum of a regular file the caller may read, in the
// answer to a stat (and so to the fstat of an open file), on sessions that
// ask for sums (wire.FilesRequest.Sums). Its value is Sum.String.
const StatExtension = "sha256@bproc"

// String is the sum in lower-case hexadecimal: 64 characters.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is no sum at all (the zero value).
func (s Sum) IsZero() bool { return s == Sum{} }

var errBadSum = errors.New("contentcache: not a sha256 sum (64 lower-case hex digits)")

// ParseSum parses what Sum.String writes, and nothing else: exactly 64
// lower-case hexadecimal digits (the sum names a file in the cache
// directory, so there is one spelling of each).
func ParseSum(s string) (Sum, error) {
	var sum Sum
	if len(s) != 2*len(sum) {
		return Sum{}, errBadSum
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Sum{}, errBadSum
		}
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return Sum{}, errBadSum
	}
	return sum, nil
}

// SumOf reads r to its end and returns the sum of what it read and how
// many bytes that was.
func SumOf(r io.Reader) (Sum, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Sum{}, n, err
	}
	return sumOf(h), n, nil
}

func sumOf(h hash.Hash) Sum {
	var s Sum
	h.Sum(s[:0])
	return s
}
