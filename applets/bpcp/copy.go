package bpcp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/pkg/sftp"
)

// copier copies files between two sides.
type copier struct {
	preserve  bool // -p: modes and times
	recursive bool // -r
	progress  func(name string, size int64) io.Writer
}

// side is a file system and a path on it, for messages.
type side struct {
	fs   fileSystem
	node int
}

func (s side) name(p string) string {
	if s.node == local {
		return p
	}
	return fmt.Sprintf("%d:%s", s.node, p)
}

// copyAny copies src to dst (a file, or a directory with -r). dst is the
// final name, not a directory to copy into.
func (c *copier) copyAny(from side, src string, to side, dst string) error {
	fi, err := from.fs.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", from.name(src), describe(err))
	}
	if fi.IsDir() {
		if !c.recursive {
			return fmt.Errorf("%s: is a directory (use -r)", from.name(src))
		}
		return c.copyDir(from, src, fi, to, dst)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", from.name(src))
	}
	return c.copyFile(from, src, fi, to, dst)
}

func (c *copier) copyDir(from side, src string, fi fs.FileInfo, to side, dst string) error {
	if err := to.fs.Mkdir(dst, fi.Mode().Perm()|0o700); err != nil {
		if st, serr := to.fs.Stat(dst); serr != nil || !st.IsDir() {
			return fmt.Errorf("%s: %w", to.name(dst), describe(err))
		}
	}
	ents, err := from.fs.ReadDir(src)
	if err != nil {
		return fmt.Errorf("%s: %w", from.name(src), describe(err))
	}
	for _, e := range ents {
		if err := c.copyAny(from, from.fs.Join(src, e.Name()), to, to.fs.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return c.finish(to, dst, fi)
}

// copyFile writes a temporary file beside dst and renames it into place,
// so that a failed copy leaves no partial file, and an existing dst is
// replaced only by a complete one.
func (c *copier) copyFile(from side, src string, fi fs.FileInfo, to side, dst string) error {
	in, err := from.fs.Open(src)
	if err != nil {
		return fmt.Errorf("%s: %w", from.name(src), describe(err))
	}
	defer in.Close()
	tmp := tempName(dst)
	out, err := to.fs.Create(tmp, fi.Mode().Perm())
	if err != nil {
		return fmt.Errorf("%s: %w", to.name(dst), describe(err))
	}
	var w io.Writer = out
	if c.progress != nil {
		if p := c.progress(path.Base(src), fi.Size()); p != nil {
			w = io.MultiWriter(out, p)
		}
	}
	_, err = io.Copy(w, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.finish(to, tmp, fi)
	}
	if err == nil {
		err = to.fs.Rename(tmp, dst)
	}
	if err != nil {
		to.fs.Remove(tmp)
		return fmt.Errorf("%s to %s: %w", from.name(src), to.name(dst), describe(err))
	}
	return nil
}

// finish applies -p: the source's mode and times.
func (c *copier) finish(to side, name string, fi fs.FileInfo) error {
	if !c.preserve {
		return nil
	}
	if err := to.fs.Chmod(name, fi.Mode().Perm()); err != nil {
		return err
	}
	return to.fs.Chtimes(name, fi.ModTime(), fi.ModTime())
}

func tempName(dst string) string {
	var b [4]byte
	rand.Read(b[:])
	dir, base := path.Split(dst)
	return dir + "." + base + ".bpcp-" + hex.EncodeToString(b[:])
}

// describe turns errors of either side into the words users know.
func describe(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file or directory")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("permission denied")
	}
	var se *sftp.StatusError
	if !errors.As(err, &se) {
		return err
	}
	// The node's message, without sftp's quoting and code. One that
	// names a path first is the file server's own (a refused symlink)
	// and is kept whole; of "open /x: not a directory", the reason.
	msg := strings.TrimPrefix(se.Error(), "sftp: ")
	if q, qerr := strconv.QuotedPrefix(msg); qerr == nil {
		msg, _ = strconv.Unquote(q)
	}
	if strings.HasPrefix(msg, "/") {
		return errors.New(msg)
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return errors.New(msg)
}
