package master

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Move errors, BProc's where it had them.
var (
	errSameNode = localapi.ErrSameNode
	errThreads  = errors.New("Invalid argument: the process has more than one thread")
)

// setuidRefusal follows localapi.ErrNotPermitted's text in the refusal of
// a set-user-ID process, made where it happens (an fmt.Errorf at package
// level would run at every start of the binary, bpsh's too).
const setuidRefusal = "a process with several identities (set-user-ID) is not moved"

const (
	errMoveFail  = localapi.ErrMoveFailed
	moveArrival  = time.Minute // for the node to rebuild the process
	ghostArrival = 30 * time.Second
)

// cpuRefusal is why a process may not go to node num, whose CPU lacks
// the flags missing: an Exec format error (ENOEXEC for libbproc).
func cpuRefusal(num int, missing []string) error {
	return fmt.Errorf("%w: %s", localapi.ErrExecFormat, vmadump.CPUFlagsRefusal(num, missing))
}

// preChannel is the node channel of a moved process, open before its
// ghost exists: the process runs on the node already.
type preChannel struct {
	ch      ssh.Channel
	reqs    <-chan *ssh.Request
	nodePID int
}

// move moves the calling process to a node: read it (vmadump, with
// ptrace), send it to the node, which rebuilds it with the same PID and
// the caller's credentials, and answer the caller with a ghost token and
// the ghost stub, which the caller executes to become the ghost of its
// copy. Only the process itself can ask: the master reads the process
// whose PID SO_PEERCRED gives. On any failure the process goes on where it
// was, and the reply says why.
func (m *Master) move(c *client, node *int) error {
	if !vmadump.Ported {
		return vmadump.ErrNotPorted // before anything is read or asked of a node
	}
	cred := c.cred
	if node == nil {
		return errors.New("move: no node")
	}
	num := *node
	m.mu.Lock()
	n := m.nodes[num]
	var why error
	switch {
	case num == -1:
		why = errSameNode // the caller is on the master
	case n == nil:
		why = errInvalidNode
	default:
		why = n.accessError(cred)
	}
	var sc ssh.Conn
	var nodeFlags []string
	var pushOnly, view bool
	if why == nil {
		sc, nodeFlags = n.conn, n.hello.CPUFlags
		pushOnly, view = n.hello.Diskless && !n.hello.View, n.hello.View
	}
	m.mu.Unlock()
	if why != nil {
		return why
	}
	if err := sameIdentity(cred.PID, cred.UID, cred.GID); err != nil {
		return err
	}
	// Its environment says what it told glibc not to use; a process may
	// read its own (or not: then nothing was turned off).
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cred.PID))
	if missing := vmadump.MissingCPUFlags(m.cpuFlags, nodeFlags, environ); len(missing) > 0 {
		return cpuRefusal(num, missing)
	}
	began := time.Now()
	img, stopped, err := readCaller(c)
	if err != nil {
		return err
	}
	dumped := time.Since(began)
	push, err := movePush(&m.hashes, asuser.Cred{UID: cred.UID, GID: cred.GID, Groups: cred.Groups}, cred.PID, img, pushOnly, view)
	if err != nil {
		stopped.Resume()
		return err
	}
	forget := m.arriving(n, cred.PID, cred)
	pre, err := m.sendMoved(sc, num, cred.PID, c, img, push)
	if err != nil {
		forget()
		stopped.Resume()
		return err
	}
	tok, err := m.awaitGhost(c, cred, num, pre, img, cmdline(cred.PID, img.Comm), forget)
	if err != nil {
		stopped.Resume()
		return err
	}
	m.obs.moved(moveToNode)
	m.log.Info("process moved", "pid", cred.PID, "node", num, "bytes", img.Bytes(),
		"took", time.Since(began).Round(time.Microsecond), "dump", dumped.Round(time.Microsecond))
	// Its timers went with it: the ghost it becomes must not keep them.
	if err := stopped.StopTimers(); err != nil {
		m.log.Warn("move: the ghost's timers not stopped", "pid", cred.PID, "err", err)
	}
	// The reply first, then let the caller go: it is blocked reading it.
	err = c.sendWithStub(localapi.Reply{Token: tok.String()})
	stopped.Resume()
	return err
}

// arriving records that pid, of cred, is being moved to n: until its
// ghost makes it a proc, the process reads its files on the node as soon
// as it runs. The returned func forgets it.
func (m *Master) arriving(n *node, pid int, cred localapi.Cred) (forget func()) {
	m.mu.Lock()
	if n.moving == nil {
		n.moving = make(map[int]localapi.Cred)
	}
	n.moving[pid] = cred
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(n.moving, pid)
		m.mu.Unlock()
	}
}

// awaitGhost makes the token the ghost of a copy now running on node num
// (pre) connects with. A ghost that does not come within ghostArrival
// leaves its copy nobody to report to: it is ended then. On error the
// copy is ended and forgotten.
func (m *Master) awaitGhost(c *client, cred localapi.Cred, num int, pre *preChannel, img *vmadump.Image, argv []string, forget func()) (ghost.Token, error) {
	tok, err := ghost.NewToken()
	if err != nil {
		forget()
		pre.ch.Close()
		return tok, err
	}
	j := &job{c: c, cred: cred, cmd: wire.Command{Path: img.Exe, Argv: argv, Dir: img.Cwd}}
	r := &rank{job: j, index: 0, node: num, token: tok, pre: pre}
	m.mu.Lock()
	m.pending[tok] = r
	m.mu.Unlock()
	time.AfterFunc(ghostArrival, func() {
		m.mu.Lock()
		stale := m.pending[tok] == r
		if stale {
			delete(m.pending, tok)
		}
		m.mu.Unlock()
		if stale {
			forget()
			pre.ch.Close()
		}
	})
	return tok, nil
}

// sendMoved opens the node channel of a moved process, sends its image
// and waits until the node has rebuilt it.
func (m *Master) sendMoved(sc ssh.Conn, num, pid int, c *client, img *vmadump.Image, push []wire.PushFile) (*preChannel, error) {
	hdr, err := img.Header()
	if err != nil {
		return nil, err
	}
	mv := wire.Move{ImageSize: int64(len(hdr)) + img.Bytes(), Return: localapi.MoveReturn}
	return m.sendImage(sc, num, pid, c.cred, img.Exe, []string{img.Comm}, img.Cwd, mv, push, img.Encode)
}

// sendImage opens the node channel of a moved process, writes its image
// (mv.ImageSize bytes) with write, unless the node reads it from
// mv.ImageFile, and waits until the node has rebuilt it. push is what the
// node must place first (movePush).
func (m *Master) sendImage(sc ssh.Conn, num, pid int, cred localapi.Cred, path string, argv []string, dir string,
	mv wire.Move, push []wire.PushFile, write func(io.Writer) error) (*preChannel, error) {
	// Of a command, a moved process has only its name and directory:
	// its stdio are pipes to its ghost, whatever its job asked for.
	start := wire.ProcStart{
		PID: pid, Node: num, Command: wire.Command{Path: path, Argv: argv, Dir: dir},
		UID: cred.UID, GID: cred.GID, Groups: cred.Groups,
		Move: &mv, Push: push,
	}
	if start.Path == "" {
		start.Path = "/"
	}
	m.mu.Lock()
	m.nodeLimits(&start)
	m.mu.Unlock()
	m.views.barrier(num) // see proc.open
	ch, reqs, err := sshconn.OpenChannel(sc, wire.ChanProc, wire.Encode(start))
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return nil, fmt.Errorf("%s: %s", errMoveFail, oce.Message)
		}
		return nil, errNodeDied
	}
	if mv.ImageFile == "" {
		if err := write(ch); err != nil {
			m.log.Warn("move: image not written", "node", num, "pid", pid, "err", err)
			ch.Close()
			return nil, writeFailed(num, err, reqs)
		}
	}
	timeout := time.After(moveArrival)
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				ch.Close()
				return nil, errNodeDied
			}
			if req.WantReply {
				req.Reply(false, nil)
			}
			switch req.Type {
			case wire.ReqStarted:
				var s wire.Started
				wire.Decode(req.Type, req.Payload, &s)
				return &preChannel{ch: ch, reqs: reqs, nodePID: s.PID}, nil
			case wire.ReqMoveFailed:
				ch.Close()
				return nil, fmt.Errorf("%s: node %d: %s", errMoveFail, num, req.Payload)
			}
		case <-timeout:
			ch.Close()
			return nil, fmt.Errorf("%s: node %d did not rebuild the process in %v", errMoveFail, num, moveArrival)
		}
	}
}

// writeFailed says why an image could not be written: the node said why
// (it refused the image, and closed the channel), or it died (its
// connection, and with it the channel's requests, ended), or the image
// could not be read (a node's dump).
func writeFailed(num int, err error, reqs <-chan *ssh.Request) error {
	timeout := time.After(5 * time.Second)
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				// The node's connection ended: the write saw that as
				// the channel's end (EOF) or, first, as the socket's
				// (the reset of a killed node's TCP connection).
				var ne *net.OpError
				if errors.Is(err, io.EOF) || errors.As(err, &ne) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
					return errNodeDied
				}
				return fmt.Errorf("%s: %v", errMoveFail, err)
			}
			if req.WantReply {
				req.Reply(false, nil)
			}
			if req.Type == wire.ReqMoveFailed {
				return fmt.Errorf("%s: node %d: %s", errMoveFail, num, req.Payload)
			}
		case <-timeout:
			return fmt.Errorf("%s: %v", errMoveFail, err)
		}
	}
}

// sameIdentity refuses a process whose real, effective, saved and file
// system ids are not all one: a set-user-ID program's copy would run with
// only one of them.
func sameIdentity(pid int, uid, gid uint32) error {
	st, err := procfs.ReadStatus(pid)
	if err != nil {
		return fmt.Errorf("%s: %w", errMoveFail, err)
	}
	for i := range st.UID {
		if st.UID[i] != uid || st.GID[i] != gid {
			return fmt.Errorf("%w: %s", localapi.ErrNotPermitted, setuidRefusal)
		}
	}
	return nil
}

// cmdline is the process's argv, for ps on the master and bpstat -p.
func cmdline(pid int, comm string) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return []string{comm}
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// sendWithStub sends a reply frame with the ghost stub's descriptor
// attached (SCM_RIGHTS): what a moved process executes.
func (c *client) sendWithStub(reply localapi.Reply) error {
	if c.conn == nil {
		return errors.New("the ghost stub goes only to a process of the master")
	}
	stub, err := ghost.StubFD()
	if err != nil {
		return err
	}
	var frame bytes.Buffer
	if err := localapi.WriteFrame(&frame, reply); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _, err = c.conn.WriteMsgUnix(frame.Bytes(), unix.UnixRights(stub), nil)
	return err
}

// The caller waits for the reply in recvmsg: that is where it must be read,
// so that its copy returns from that call with MoveReturn.
const sysRecvmsg = 47

// readCaller reads the process that asked (c's peer), stopped under
// ptrace, once it waits for the answer: the process that connected and no
// other that got its PID since, still the caller's once it can no longer
// change who it is. The caller resumes it.
func readCaller(c *client) (*vmadump.Image, *vmadump.Stopped, error) {
	cred := c.cred
	pidfd, err := localapi.PeerPIDFD(c.conn)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", errMoveFail, err)
	}
	defer unix.Close(pidfd)
	img, stopped, err := dumpWaiting(cred.PID)
	if errors.Is(err, vmadump.ErrThreads) {
		return nil, nil, errThreads
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", errMoveFail, err)
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		stopped.Resume()
		return nil, nil, fmt.Errorf("%s: the process that asked is gone", errMoveFail)
	}
	if err := sameIdentity(cred.PID, cred.UID, cred.GID); err != nil {
		stopped.Resume()
		return nil, nil, err
	}
	return img, stopped, nil
}

// dumpWaiting reads the process once it is blocked in recvmsg (it sent
// its request a moment ago and may still be on its way there).
func dumpWaiting(pid int) (*vmadump.Image, *vmadump.Stopped, error) {
	return vmadump.DumpWhenIn(pid, sysRecvmsg, 5*time.Second, nil)
}
