package slave

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"

	"github.com/bproc/bproc/wire"
)

// version is what tells two copies of a master file apart.
type version struct {
	size  int64
	mtime int64
}

// pushed is what this node has fetched, so that a second run of a program
// costs nothing but the comparison, and what is being fetched, so that two
// processes that need a file at once fetch it once.
type pushed struct {
	mu       sync.Mutex
	have     map[string]version
	fetching map[string]chan struct{}
	bytes    int64 // fetched in all, for the log
}

// push places every entry of files at its path, as the master has it:
// directories and links made, regular files fetched when this node lacks
// them or has another version. Files are fetched as uid, through the
// master's file service, which reads them with the caller's credentials.
func (s *Slave) push(uid uint32, files []wire.PushFile) error {
	var client *sftp.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	for _, f := range files {
		var err error
		switch f.Kind {
		case "dir":
			err = makeDir(f)
		case "link":
			err = makeLink(f)
		case "file":
			err = s.pushFile(f, func() (*sftp.Client, error) {
				if client == nil {
					c, err := s.Files(uid)
					if err != nil {
						return nil, err
					}
					client = c
				}
				return client, nil
			})
		}
		if err != nil {
			return fmt.Errorf("push %s: %w", f.Path, err)
		}
	}
	return nil
}

func makeDir(f wire.PushFile) error {
	fi, err := os.Lstat(f.Path)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err := os.MkdirAll(f.Path, fs.FileMode(f.Mode)&fs.ModePerm); err != nil {
		return err
	}
	os.Lchown(f.Path, int(f.UID), int(f.GID))
	// Raw bits: setuid, setgid and sticky included, as the master has them.
	return syscall.Chmod(f.Path, f.Mode&0o7777)
}

func makeLink(f wire.PushFile) error {
	if t, err := os.Readlink(f.Path); err == nil && t == f.Target {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	tmp := f.Path + ".bproc-new"
	os.Remove(tmp)
	if err := os.Symlink(f.Target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, f.Path)
}

// pushFile fetches one regular file unless this node has its version.
func (s *Slave) pushFile(f wire.PushFile, dial func() (*sftp.Client, error)) error {
	want := version{f.Size, f.MTime}
	p := &s.pushed
	for {
		p.mu.Lock()
		if p.have == nil {
			p.have, p.fetching = map[string]version{}, map[string]chan struct{}{}
		}
		if p.have[f.Path] == want {
			if _, err := os.Lstat(f.Path); err == nil {
				p.mu.Unlock()
				return nil
			}
		}
		wait, busy := p.fetching[f.Path]
		if !busy {
			done := make(chan struct{})
			p.fetching[f.Path] = done
			p.mu.Unlock()
			n, err := fetch(f, dial)
			p.mu.Lock()
			delete(p.fetching, f.Path)
			if err == nil {
				p.have[f.Path] = want
				p.bytes += n
			}
			p.mu.Unlock()
			close(done)
			return err
		}
		p.mu.Unlock()
		<-wait // another process fetched it: look again
	}
}

// fetch copies the master's file to a temporary name beside its place and
// renames it there, so a process never sees half a program.
func fetch(f wire.PushFile, dial func() (*sftp.Client, error)) (int64, error) {
	c, err := dial()
	if err != nil {
		return 0, err
	}
	src, err := c.Open(f.Path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return 0, err
	}
	tmp := f.Path + ".bproc-new"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != f.Size {
		err = fmt.Errorf("got %d bytes, want %d (changed on the master while fetched?)", n, f.Size)
	}
	if err == nil {
		os.Chown(tmp, int(f.UID), int(f.GID))
		err = syscall.Chmod(tmp, f.Mode&0o7777)
	}
	if err == nil {
		mt := time.Unix(0, f.MTime)
		err = os.Chtimes(tmp, mt, mt)
	}
	if err == nil {
		err = os.Rename(tmp, f.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}
