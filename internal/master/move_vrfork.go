package master

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// imageDir is where the image of a bproc_vrfork is put for the nodes with
// a view to read: a directory of the master's that views show (not /tmp
// or /run, which nodes have of their own).
const imageDir = "/var/tmp"

// vrfork places copies of the caller on many nodes (bproc_vrfork). The
// caller has forked one child per node, each waiting to become the ghost
// of its copy. The master reads the caller once; each node rebuilds it
// with its child's PID and sees its read return VRforkReturn + its index.
// Nodes with a view of the master's files read the image as a file of
// the master's, through that view: a large one they fetch from each
// other, down the tree the master draws for large files, so it leaves the
// master about once however many nodes there are. Nodes without a view
// get it on their channel.
//
// Each child gets a token in the reply's Ranks, or why it got no copy;
// the caller goes on where it was whatever happens.
func (m *Master) vrfork(c *client, v *localapi.VRfork) error {
	if !vmadump.Ported {
		return vmadump.ErrNotPorted // before anything is read or asked of a node
	}
	if v == nil || len(v.Nodes) == 0 || len(v.Nodes) != len(v.PIDs) || len(v.Nodes) > localapi.MaxVRfork {
		return fmt.Errorf("vrfork: want a child for each node, 1 to %d", localapi.MaxVRfork)
	}
	cred := c.cred
	if err := sameIdentity(cred.PID, cred.UID, cred.GID); err != nil {
		return err
	}
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cred.PID))
	ranks := make([]localapi.Rank, len(v.Nodes))
	own := map[int]bool{}
	for i, pid := range v.PIDs {
		if own[pid] || !childOf(pid, cred) {
			ranks[i].Refuse(errInvalidProcess)
		}
		own[pid] = true
	}
	type target struct {
		i              int
		n              *node
		sc             ssh.Conn
		view, pushOnly bool
	}
	var targets []target
	m.mu.Lock()
	for i, num := range v.Nodes {
		ranks[i].Node = num
		if ranks[i].Error != "" {
			continue
		}
		n := m.nodes[num]
		var why error
		switch {
		case num == -1:
			why = errSameNode
		case n == nil:
			why = errInvalidNode
		default:
			why = n.accessError(cred)
		}
		if why == nil {
			if missing := vmadump.MissingCPUFlags(m.cpuFlags, n.hello.CPUFlags, environ); len(missing) > 0 {
				why = cpuRefusal(num, missing)
			} else if n.conn == nil {
				why = errNodeDied
			}
		}
		if why != nil {
			ranks[i].Refuse(why)
			continue
		}
		targets = append(targets, target{i: i, n: n, sc: n.conn, view: n.hello.View, pushOnly: n.hello.Diskless && !n.hello.View})
	}
	m.mu.Unlock()
	if len(targets) == 0 {
		return c.sendWithStub(localapi.Reply{Ranks: ranks})
	}

	began := time.Now()
	img, stopped, err := readCaller(c)
	if err != nil {
		return err
	}
	defer stopped.Resume()
	img.Timers = nil // each copy is a child, and fork's children start with none
	dumped := time.Since(began)
	hdr, err := img.Header()
	if err != nil {
		return err
	}
	size := int64(len(hdr)) + img.Bytes()
	file := ""
	for _, t := range targets {
		if t.view {
			f, cleanup, err := m.writeImage(img, cred)
			if err != nil {
				m.log.Warn("vrfork: image file; sending it on every node's channel instead", "err", err)
				break
			}
			defer cleanup()
			file = f
			break
		}
	}
	argv := cmdline(cred.PID, img.Comm)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			pid, num := v.PIDs[t.i], v.Nodes[t.i]
			forget := m.arriving(t.n, pid, cred)
			mv := wire.Move{ImageSize: size, Return: localapi.VRforkReturn + uint64(t.i)}
			if t.view {
				mv.ImageFile = file
			}
			push, err := movePush(&m.hashes, asuser.Cred{UID: cred.UID, GID: cred.GID, Groups: cred.Groups}, cred.PID, img, t.pushOnly, t.view)
			if err != nil {
				forget()
				ranks[t.i].Error = err.Error()
				return
			}
			pre, err := m.sendImage(t.sc, num, pid, cred, img.Exe, argv, img.Cwd, mv, push, img.Encode)
			if err != nil {
				forget()
				ranks[t.i].Refuse(err)
				return
			}
			tok, err := m.awaitGhost(c, cred, num, pre, img, argv, forget)
			if err != nil {
				ranks[t.i].Refuse(err)
				return
			}
			ranks[t.i].Token = tok.String()
		})
	}
	wg.Wait()
	m.obs.moved(moveVRfork)
	m.log.Info("process copied to nodes", "pid", cred.PID, "nodes", len(targets), "bytes", img.Bytes(),
		"by_file", file != "", "took", time.Since(began).Round(time.Microsecond), "dump", dumped.Round(time.Microsecond))
	// The reply first, then the caller goes on (deferred): it is blocked
	// reading it.
	return c.sendWithStub(localapi.Reply{Ranks: ranks})
}

// childOf says whether pid is a child of cred's process, of the same
// user: only its own children can become its copies' ghosts.
func childOf(pid int, cred localapi.Cred) bool {
	if st, err := procfs.ReadStat(pid); err != nil || st.PPid != cred.PID {
		return false
	}
	return sameIdentity(pid, cred.UID, cred.GID) == nil
}

// writeImage puts img in a file only its user (and root) may read, in a
// directory of its own, and returns the file's path and what removes it.
// The master keeps its sum, so that the nodes opening it at once do not
// each have it hashed.
func (m *Master) writeImage(img *vmadump.Image, cred localapi.Cred) (string, func(), error) {
	dir, err := os.MkdirTemp(imageDir, "bproc-vrfork-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o711); err != nil {
		cleanup()
		return "", nil, err
	}
	path := filepath.Join(dir, "image")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	defer f.Close()
	fail := func(err error) (string, func(), error) {
		cleanup()
		return "", nil, fmt.Errorf("image %s: %w", path, err)
	}
	if err := f.Chown(int(cred.UID), int(cred.GID)); err != nil {
		return fail(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := img.Encode(w); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if _, err := m.hashes.Settle(f); err != nil {
		return fail(err)
	}
	return path, cleanup, nil
}
