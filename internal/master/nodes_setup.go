package master

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/sshconn"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// scriptTimeout bounds one node_up.d script: a node must not sit in boot
// forever because a script hangs.
const scriptTimeout = 2 * time.Minute

// setUpNode runs the node_up.d scripts on a node that has just said hello,
// as root, in name order, through bproc itself; their output goes to the
// node's log in the state directory. All succeed: the node is up (or in
// the state the administrator holds it in). One fails: the node is in error.
func (m *Master) setUpNode(n *node, sc *ssh.ServerConn, log *slog.Logger) {
	dir := m.nodeUpDir()
	m.mu.Lock()
	var libs []string
	if m.cfg.File != nil {
		libs = libraryFiles(m.cfg.File.Libraries)
	}
	view := n.hello.View
	m.mu.Unlock()
	scripts, err := nodeUpScripts(dir)
	if err == nil && len(scripts) > 0 && view {
		err = visibleToView(dir)
	}
	state := localapi.StateUp
	if err != nil {
		log.Error("node setup failed; node in error", "err", err)
		m.withNodeLog(n.num, func(w io.Writer) error { _, err := fmt.Fprintf(w, "--- %v\n", err); return err })
		state = localapi.StateError
		scripts = nil
	}
	switch {
	case len(libs) > 0 && view:
		if err := m.withNodeLog(n.num, func(w io.Writer) error { return m.sendLibraries(n, sc, libs, w) }); err != nil {
			// The node works without them, only its first runs are slower.
			log.Warn("node setup: libraries not sent", "err", err)
		}
	case len(libs) > 0:
		log.Debug("libraries are sent only to nodes with a view of the master's files")
	}
	if len(scripts) > 0 {
		if err := m.runScripts(n, sc, scripts); err != nil {
			log.Error("node setup failed; node in error", "err", err, "log", m.nodeLogPath(n.num))
			state = localapi.StateError
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n.conn != sc {
		return // it went away meanwhile
	}
	if state == localapi.StateUp && n.held != "" {
		state = n.held
	}
	n.state = state
	m.changedLocked()
}

// nodeUpDir is where the node_up.d scripts are: --node-up-dir, else the
// running config's nodeupdir (read again on SIGHUP).
func (m *Master) nodeUpDir() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.NodeUpDir != "" || m.cfg.File == nil {
		return m.cfg.NodeUpDir
	}
	return m.cfg.File.NodeUpDir
}

// visibleToView refuses a node_up.d directory that a node with a view
// cannot see, being under a directory such a node has of its own (its
// scripts would fail to start, each with a bare ENOENT).
func visibleToView(dir string) error {
	// /var/run -> /run: what the node would look for is where the link
	// leads, as the master resolves it.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	dir = filepath.Clean(dir)
	for _, own := range wire.ViewOwnDirs {
		if dir == own || strings.HasPrefix(dir, own+"/") {
			return fmt.Errorf("node_up.d %s is under %s, which a node has of its own: its scripts are not there (keep them elsewhere, as in /etc/bproc/node_up.d)", dir, own)
		}
	}
	return nil
}

// nodeUpScripts lists the executable files of dir in name order, leaving
// out hidden files and editor backups.
func nodeUpScripts(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node_up.d %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			continue
		}
		out = append(out, path)
	}
	sort.Strings(out)
	return out, nil
}

func (m *Master) nodeLogPath(num int) string {
	return filepath.Join(m.cfg.StateDir, "log", fmt.Sprintf("node.%d", num))
}

// withNodeLog runs fn with the node's log in the state directory open for
// appending.
func (m *Master) withNodeLog(num int, fn func(io.Writer) error) error {
	path := m.nodeLogPath(num)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	logf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	defer logf.Close()
	return fn(logf)
}

// runScripts runs each script on the node until one fails, as root:
// while they run, root has a process of the master's on the node, and the
// node may read the master's files as root (the scripts, the programs
// they run), as it may for a root bpsh; not before, not after.
func (m *Master) runScripts(n *node, sc *ssh.ServerConn, scripts []string) error {
	return m.withNodeLog(n.num, func(logf io.Writer) error {
		return m.asOwnProcess(n, rootCred, func() error { return runScripts(n.num, sc, scripts, logf) })
	})
}

func runScripts(num int, sc *ssh.ServerConn, scripts []string, logf io.Writer) error {
	fmt.Fprintf(logf, "=== node %d setup, %s\n", num, time.Now().Format(time.RFC3339))
	for _, script := range scripts {
		fmt.Fprintf(logf, "--- %s\n", script)
		status, err := runOnNode(sc, wire.ProcStart{
			Node: num,
			Command: wire.Command{
				Path: script, Argv: []string{script, strconv.Itoa(num)},
				Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "BPROC_NODE=" + strconv.Itoa(num)},
				Dir: "/",
			},
		}, logf, scriptTimeout)
		if err != nil {
			fmt.Fprintf(logf, "--- %s: %v\n", script, err)
			return fmt.Errorf("%s: %w", script, err)
		}
		fmt.Fprintf(logf, "--- %s: %s\n", script, status)
		if status != (wire.ExitStatus{}) {
			return fmt.Errorf("%s: %s", script, status)
		}
	}
	return nil
}

// Credentials of the master's own processes on a node.
var (
	rootCred = asuser.Cred{}
	// nobodyCred reads what anyone may read: the config's libraries.
	nobodyCred = asuser.Cred{UID: 65534, GID: 65534, Groups: []uint32{}}
)

// asOwnProcess runs fn, which runs a process of the master's own on n
// with cred: meanwhile the node may read files as that user, as it may
// for a user's process (credOnNode), by the master's record, never by the
// node's word.
func (m *Master) asOwnProcess(n *node, cred asuser.Cred, fn func() error) error {
	m.mu.Lock()
	if n.own == nil {
		n.own = make(map[uint32]ownProc)
	}
	o := n.own[cred.UID]
	o.cred, o.count = cred, o.count+1
	n.own[cred.UID] = o
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		o := n.own[cred.UID]
		if o.count--; o.count == 0 {
			delete(n.own, cred.UID)
		} else {
			n.own[cred.UID] = o
		}
		m.mu.Unlock()
	}()
	return fn()
}

// ownProc counts the master's own processes of one user on a node.
type ownProc struct {
	cred  asuser.Cred
	count int
}

// runOnNode runs one process on a node for the master itself (no ghost, no
// client), its output to out, and returns how it ended.
func runOnNode(sc *ssh.ServerConn, start wire.ProcStart, out io.Writer, timeout time.Duration) (wire.ExitStatus, error) {
	ch, reqs, err := sshconn.OpenChannel(sc, wire.ChanProc, wire.Encode(start))
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return wire.ExitStatus{}, errors.New(oce.Message)
		}
		return wire.ExitStatus{}, errNodeDied
	}
	defer ch.Close()
	ch.CloseWrite()
	var wmu sync.Mutex
	w := &lockedWriter{mu: &wmu, w: out}
	var copies sync.WaitGroup
	copies.Go(func() { io.Copy(w, ch) })
	copies.Go(func() { io.Copy(w, ch.Stderr()) })
	timer := time.AfterFunc(timeout, func() {
		ch.SendRequest(wire.ReqSignal, false, wire.MarshalSignal(syscall.SIGKILL))
	})
	defer timer.Stop()
	var status *wire.ExitStatus
	for req := range reqs {
		if req.Type == wire.ReqExit {
			if s, err := wire.UnmarshalExitStatus(req.Payload); err == nil {
				status = &s
			}
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
	copies.Wait()
	if status == nil {
		return wire.ExitStatus{}, errNodeDied
	}
	return *status, nil
}

// lockedWriter lets stdout and stderr share one log file line by line.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
