package master

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/sftplist"
	"github.com/bproc/bproc/internal/shared/wire"
)

// serveFiles serves a node's files channel: the master's files, read-only,
// over sftp, every operation done with the credentials of the user the node
// asks for. The node may ask only for a user that has a process on it now,
// and the master takes that user's uid, gid and groups from its own record
// of the process (which came from SO_PEERCRED), not from the node: through a
// node, a user reads what they could read on the master, and nothing more.
func (m *Master) serveFiles(n *node, wn *watchNode, nc ssh.NewChannel, log *slog.Logger) {
	var req wire.FilesRequest
	if err := wire.Decode(wire.ChanFiles, nc.ExtraData(), &req); err != nil {
		nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	cred, ok := m.credOnNode(n, req.UID)
	if !ok && req.UID != 0 {
		// Asked before the node's hello said what it kept? (Never
		// root's: root is not served for a kept process.)
		m.awaitHello(n)
		cred, ok = m.credOnNode(n, req.UID)
	}
	if !ok {
		log.Warn("files refused: no process of that user on the node", "uid", req.UID)
		nc.Reject(ssh.Prohibited, fmt.Sprintf("uid %d has no process on node %d", req.UID, n.num))
		return
	}
	w, err := asuser.NewWorker(cred)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	defer w.Close()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	m.routines.Go(func() { ssh.DiscardRequests(reqs) })
	h := &userFiles{w: w, sent: &n.filesSent, views: &m.views, wn: wn}
	if req.Sums {
		h.sums = &m.hashes
	}
	srv := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		log.Debug("files session ended", "uid", req.UID, "err", err)
	}
	srv.Close()
}

// serveFilesConn serves a node's files connection (wire.FilesUser): file
// sessions and pings, nothing that changes the node's state.
func (m *Master) serveFilesConn(num int, sc *ssh.ServerConn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, log *slog.Logger) {
	defer sc.Close()
	defer m.peers.dropNode(num)
	wn := m.views.attach(num, sc)
	defer m.views.detach(wn)
	m.routines.Go(func() {
		for r := range reqs {
			m.filesRequest(num, r)
		}
	})
	for nc := range chans {
		m.mu.Lock()
		n := m.nodes[num]
		m.mu.Unlock()
		if n == nil || nc.ChannelType() != wire.ChanFiles {
			nc.Reject(ssh.UnknownChannelType, "a files connection takes only "+wire.ChanFiles)
			continue
		}
		m.routines.Go(func() { m.serveFiles(n, wn, nc, log) })
	}
}

// credOnNode is the credentials of a process of uid on n, if it has one:
// a node reads the master's files as a user only while that user has a
// process on it.
func (m *Master) credOnNode(n *node, uid uint32) (asuser.Cred, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// No case for a node in boot: what the master runs there itself
	// (node_up.d as root, the libraries as nobody) is in n.own while it
	// runs.
	if o, ok := n.own[uid]; ok {
		return o.cred, true
	}
	for _, p := range n.procs {
		if c := p.job.cred; c.UID == uid {
			return asuser.Cred{UID: c.UID, GID: c.GID, Groups: c.Groups}, true
		}
	}
	for _, c := range n.moving {
		if c.UID == uid {
			return asuser.Cred{UID: c.UID, GID: c.GID, Groups: c.Groups}, true
		}
	}
	return n.keptCredLocked(uid)
}

// userFiles is one user's read-only view of the master's files.
type userFiles struct {
	w    *asuser.Worker
	sent *atomic.Int64 // file bytes this node was sent, for bpstat
	// sums, on a session that asked for them, gives the content's sum in
	// the answer to a stat of a regular file the user may read.
	sums *contentcache.Hashes
	// views and wn: what this node was served is watched (files_watch.go).
	views *viewWatch
	wn    *watchNode
}

var errReadOnly = sftp.ErrSSHFxPermissionDenied

func (u *userFiles) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	var f *os.File
	err := u.w.Do(func() (err error) {
		f, err = os.Open(r.Filepath)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &closingReader{f: f, sent: u.sent}, nil
}

func (u *userFiles) Filewrite(*sftp.Request) (io.WriterAt, error) { return nil, errReadOnly }
func (u *userFiles) Filecmd(*sftp.Request) error                  { return errReadOnly }

func (u *userFiles) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	var infos []fs.FileInfo
	err := u.w.Do(func() error {
		switch r.Method {
		case "List":
			ents, err := os.ReadDir(r.Filepath)
			if err != nil {
				return err
			}
			for _, e := range ents {
				if fi, err := e.Info(); err == nil {
					infos = append(infos, fi)
				}
			}
			return nil
		case "Stat":
			fi, err := os.Stat(r.Filepath)
			if err == nil && u.sums != nil && fi.Mode().IsRegular() {
				fi = u.summed(r.Filepath, fi)
			}
			infos = []fs.FileInfo{fi}
			return err
		}
		return sftp.ErrSSHFxOpUnsupported
	})
	if err != nil {
		return nil, err
	}
	return sftplist.Entries(infos), nil
}

// summed is fi with the sum of the content of p, if the user (this
// worker's thread) may open it: the open is the check, so no sum of a file
// they could not read is ever given. The attributes are those of the file
// opened, and so of the content summed.
func (u *userFiles) summed(p string, fi fs.FileInfo) fs.FileInfo {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fi
	}
	defer f.Close()
	sum, _, err := u.sums.SumFile(f)
	if err != nil {
		return fi
	}
	ofi, err := f.Stat()
	if err != nil {
		return fi
	}
	return summedInfo{FileInfo: ofi, ext: []sftp.StatExtended{{ExtType: contentcache.StatExtension, ExtData: sum.String()}}}
}

// summedInfo is a file's attributes with its sum (sftp.FileInfoExtendedData).
type summedInfo struct {
	fs.FileInfo
	ext []sftp.StatExtended
}

func (s summedInfo) Extended() []sftp.StatExtended { return s.ext }

// Lstat and Readlink let a node show symbolic links as links, as the
// dynamic loader's paths (/lib64 -> usr/lib64) need.
//
// The directory is watched before the lstat, so that a change after it is
// told to the node (files_watch.go).
func (u *userFiles) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	dirWatched, dirPublic := u.views.watch(u.wn, path.Dir(r.Filepath))
	var fi fs.FileInfo
	err := u.w.Do(func() (err error) {
		fi, err = os.Lstat(r.Filepath)
		return err
	})
	if err != nil {
		return nil, err
	}
	if dirWatched && dirPublic {
		watched, public := true, true
		if fi.IsDir() {
			// Its entries too: the node may keep that a name is missing.
			watched, public = u.views.watch(u.wn, path.Clean(r.Filepath))
		}
		if watched && public {
			fi = withExt(fi, sftp.StatExtended{ExtType: wire.StatWatched})
		}
	}
	return sftplist.Entries{fi}, nil
}

// withExt is fi with ext added to its sftp extended attributes.
func withExt(fi fs.FileInfo, ext ...sftp.StatExtended) fs.FileInfo {
	if s, ok := fi.(summedInfo); ok {
		return summedInfo{FileInfo: s.FileInfo, ext: append(s.ext[:len(s.ext):len(s.ext)], ext...)}
	}
	return summedInfo{FileInfo: fi, ext: ext}
}

func (u *userFiles) Readlink(path string) (string, error) {
	var target string
	err := u.w.Do(func() (err error) {
		target, err = os.Readlink(path)
		return err
	})
	return target, err
}

// closingReader closes the file when sftp is done with it (it calls Close
// on a ReaderAt that has one).
type closingReader struct {
	once sync.Once
	f    *os.File
	sent *atomic.Int64
}

func (c *closingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.sent.Add(int64(n))
	return n, err
}
func (c *closingReader) Close() error {
	var err error
	c.once.Do(func() { err = c.f.Close() })
	return err
}
