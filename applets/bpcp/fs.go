package bpcp

import (
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"
)

// fileSystem is one side of a copy: this machine, as the user who runs
// bpcp, or a node through a file server running there as the same user.
// Either way the kernel of that side decides what the user may do.
type fileSystem interface {
	Stat(name string) (fs.FileInfo, error)
	Open(name string) (io.ReadCloser, error)
	// Create makes a new file, failing if it exists (the temporary file
	// a copy is written to before it is renamed into place).
	Create(name string, perm fs.FileMode) (io.WriteCloser, error)
	Rename(from, to string) error
	Remove(name string) error
	Mkdir(name string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.FileInfo, error)
	Chmod(name string, perm fs.FileMode) error
	Chtimes(name string, atime, mtime time.Time) error
	Join(elem ...string) string
}

type localFS struct{}

func (localFS) Stat(name string) (fs.FileInfo, error)   { return os.Stat(name) }
func (localFS) Open(name string) (io.ReadCloser, error) { return os.Open(name) }
func (localFS) Create(name string, perm fs.FileMode) (io.WriteCloser, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}
func (localFS) Rename(from, to string) error              { return os.Rename(from, to) }
func (localFS) Remove(name string) error                  { return os.Remove(name) }
func (localFS) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(name, perm) }
func (localFS) ReadDir(name string) ([]fs.FileInfo, error) {
	ents, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			out = append(out, fi)
		}
	}
	return out, nil
}
func (localFS) Chmod(name string, perm fs.FileMode) error { return os.Chmod(name, perm) }
func (localFS) Chtimes(name string, a, m time.Time) error { return os.Chtimes(name, a, m) }
func (localFS) Join(elem ...string) string                { return path.Join(elem...) }

// remoteFS is a node's files through sftp, served by r.
type remoteFS struct {
	c *sftp.Client
	r *remote
}

func (r remoteFS) close() error { return r.r.close() }

func (r remoteFS) Stat(name string) (fs.FileInfo, error)   { return r.c.Stat(name) }
func (r remoteFS) Open(name string) (io.ReadCloser, error) { return r.c.Open(name) }
func (r remoteFS) Create(name string, perm fs.FileMode) (io.WriteCloser, error) {
	f, err := r.c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		r.c.Remove(name)
		return nil, err
	}
	return f, nil
}
func (r remoteFS) Rename(from, to string) error               { return r.c.PosixRename(from, to) }
func (r remoteFS) Remove(name string) error                   { return r.c.Remove(name) }
func (r remoteFS) Mkdir(name string, perm fs.FileMode) error  { return r.c.Mkdir(name) }
func (r remoteFS) ReadDir(name string) ([]fs.FileInfo, error) { return r.c.ReadDir(name) }
func (r remoteFS) Chmod(name string, perm fs.FileMode) error  { return r.c.Chmod(name, perm) }
func (r remoteFS) Chtimes(name string, a, m time.Time) error  { return r.c.Chtimes(name, a, m) }
func (r remoteFS) Join(elem ...string) string                 { return r.c.Join(elem...) }
