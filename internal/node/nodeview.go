package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/node/noderoot"
	"github.com/bproc/bproc/internal/shared/pdeathsig"
)

// ViewConfig turns on the view of the master's files on a diskless node.
type ViewConfig struct {
	KeyPEM    []byte // the node key, handed to the nodeview process
	CacheSize int64  // limit of the view's copies in bytes; 0 is none
}

// Where a diskless node keeps the view (its own /run, which no view
// shows).
const (
	viewDir   = "/run/bproc/view"
	cacheDir  = "/run/bproc/cache"
	upperDir  = "/run/bproc/upper" // what programs write in the view
	viewReady = 15 * time.Second
)

// nodeMounts are the node's own file systems in the root its processes
// run in, on the view's mount points; "" is a fresh tmpfs (/run: the node's
// own holds the view).
var nodeMounts = []struct{ path, src string }{
	{"/proc", "/proc"}, {"/sys", "/sys"}, {"/dev", "/dev"}, {"/tmp", "/tmp"}, {"/run", ""},
}

// view is the node's view of the master's files, served by a nodeview
// process (package nodeview): the root of every process on a diskless
// node. It is the master's file tree, read-only, each file fetched when
// first opened and kept in the node's memory, every request answered as
// the user who made it (the FUSE request carries the caller's uid and the
// master serves that user's session with the user's own credentials).
// The node's /proc, /sys, /dev and /tmp are mounted in it, and a /run of
// its own; what a process writes elsewhere goes to the view's upper layer
// on the node's tmpfs: never to the master.
type view struct {
	s *Slave

	mu   sync.Mutex
	cmd  *exec.Cmd
	dead chan struct{} // closed when the current nodeview ends
	// up is closed while a nodeview serves the view; a new one replaces
	// it when nodeview ends, until the next is mounted. A process started
	// in between would find an empty root (ENOENT for its program).
	up chan struct{}

	// started is the PID of the latest nodeview, from the moment it
	// exists: a node that lost its master ends every process but its
	// own (killAll), and nodeview is one of its own even while starting.
	started atomic.Int64
}

// startView starts nodeview and waits until its view is mounted and
// furnished.
func (s *Slave) startView(ctx context.Context) (*view, error) {
	v := &view{s: s, up: make(chan struct{})}
	if err := v.start(ctx); err != nil {
		return nil, err
	}
	go v.supervise(ctx)
	return v, nil
}

// root is the directory processes are started in (chroot).
func (v *view) root() string { return viewDir }

// waitUp waits until a nodeview serves the view (it may be starting again
// after it ended), at most d.
func (v *view) waitUp(d time.Duration) error {
	v.mu.Lock()
	up := v.up
	v.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-time.After(d):
		return errors.New("the view of the master's files is not mounted: nodeview is starting again")
	}
}

func (v *view) start(ctx context.Context) error {
	s := v.s
	if err := os.MkdirAll(viewDir, 0o755); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	// The copies are the master's files as the users who opened them
	// could read them: nobody else on the node may look.
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	args := []string{"nodeview", "--master", s.cfg.Master, "--node", strconv.Itoa(s.cfg.Node),
		"--host-key-data", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.cfg.HostKey))),
		"--mount", viewDir, "--cache-dir", cacheDir, "--upper", upperDir, "--cache-size", strconv.FormatInt(s.cfg.View.CacheSize, 10)}
	for _, m := range nodeMounts {
		args = append(args, "--mount-point", m.path)
	}
	cmd := &exec.Cmd{Path: s.self, Args: args, Stdin: strings.NewReader(string(s.cfg.View.KeyPEM)), Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	if err := pdeathsig.Start(cmd); err != nil {
		return fmt.Errorf("view: start nodeview: %w", err)
	}
	v.started.Store(int64(cmd.Process.Pid))
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line == "ready\n"
	}()
	dead := make(chan struct{})
	go func() {
		cmd.Wait()
		close(dead)
	}()
	err = fmt.Errorf("view: nodeview did not mount the master's files (its log says why)")
	select {
	case ok := <-ready:
		if ok {
			if err = furnish(s.cfg.TmpSize); err == nil {
				if aerr := s.serveAPI(viewDir + apiSocket); aerr != nil {
					s.log.Warn("no local API for the node's processes", "err", aerr)
				}
				v.mu.Lock()
				v.cmd, v.dead = cmd, dead
				close(v.up)
				v.mu.Unlock()
				return nil
			}
		}
	case <-time.After(viewReady):
	case <-ctx.Done():
	}
	cmd.Process.Kill()
	<-dead
	unix.Unmount(viewDir, unix.MNT_DETACH)
	return err
}

// furnish mounts the node's own file systems on the view's mount points;
// a fresh tmpfs (/run) gets size bytes (0: the kernel's default, half the
// node's memory) and, where the kernel has tmpfs quotas, half of that for
// each user.
func furnish(size int64) error {
	for _, m := range nodeMounts {
		var err error
		if m.src == "" {
			data := "mode=0755"
			if size > 0 {
				data += ",size=" + strconv.FormatInt(size, 10)
				err = unix.Mount("node-"+m.path[1:], viewDir+m.path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data+","+noderoot.TmpQuota(strconv.FormatInt(size/2, 10)))
			}
			if size <= 0 || err == unix.EINVAL {
				err = unix.Mount("node-"+m.path[1:], viewDir+m.path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data)
			}
		} else {
			err = unix.Mount(m.src, viewDir+m.path, "", unix.MS_BIND|unix.MS_REC, "")
		}
		if err != nil {
			return fmt.Errorf("view: mount the node's %s: %w", m.path, err)
		}
	}
	return nil
}

// supervise starts nodeview again when it ends. Processes that were
// running in the old view find its files gone (ENOTCONN); new processes
// start in the new one.
func (v *view) supervise(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		v.mu.Lock()
		dead := v.dead
		v.mu.Unlock()
		select {
		case <-ctx.Done():
			v.mu.Lock()
			v.cmd.Process.Signal(syscall.SIGTERM)
			v.mu.Unlock()
			return
		case <-dead:
		}
		v.s.log.Warn("nodeview ended; starting it again", "in", backoff)
		v.mu.Lock()
		v.up = make(chan struct{})
		v.mu.Unlock()
		unix.Unmount(viewDir, unix.MNT_DETACH)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			err := v.start(ctx)
			if err == nil {
				break
			}
			v.s.log.Warn("restarting nodeview", "err", err)
		}
	}
}

// masterLost tells nodeview that this node lost its master (or gave up on
// a silent one) and killed its processes: nodeview drops its own files
// connection, so that a killed process waiting on a file from the master
// (uninterruptibly, in FUSE) gets its answer and dies, and requests fail
// until masterBack.
func (v *view) masterLost() { v.signal(syscall.SIGUSR1) }

// masterBack tells nodeview that this node is connected again.
func (v *view) masterBack() { v.signal(syscall.SIGUSR2) }

func (v *view) signal(sig syscall.Signal) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Signal(sig)
	}
}

// selfInView is a path of this node's bproc binary that works inside the
// view's root: its descriptor under /proc/self/fd (a child's table is a
// copy of this process's).
func (s *Slave) selfInView() string {
	s.selfOnce.Do(func() {
		f, err := os.Open(s.self)
		if err != nil {
			s.log.Warn("own binary for bpcp in the view", "err", err)
			return
		}
		s.selfFile = f
	})
	if s.selfFile == nil {
		return s.self
	}
	return fmt.Sprintf("/proc/self/fd/%d", s.selfFile.Fd())
}
