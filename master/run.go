package master

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/asuser"
	"github.com/bproc/bproc/ghost"
	"github.com/bproc/bproc/localapi"
	"github.com/bproc/bproc/peercred"
	"github.com/bproc/bproc/wire"
)

// BProc's error texts, which users and scripts know.
const (
	errInvalidNode  = localapi.ErrTextInvalidNode
	errNodeDown     = localapi.ErrTextNodeDown
	errNotPermitted = "Operation not permitted"
	errNodeDied     = "Slave node died"
)

// maxRanks bounds one run request.
const maxRanks = 1 << 20

// job is one run request of a client: a rank per node entry.
type job struct {
	c    *client
	cred peercred.Cred
	run  localapi.Run
	// outputs are the stdout and stderr its ghosts handed over, each
	// open file once however many ghosts write to it.
	outputs outputs
}

// rank is an entry of a job waiting for its ghost to connect.
type rank struct {
	job   *job
	index int
	node  int
	token ghost.Token
	pre   *preChannel // a moved process: already on the node
}

func (m *Master) newJob(c *client, r *localapi.Run) (*job, []localapi.Rank, error) {
	switch {
	case r == nil:
		return nil, nil, errors.New("run: missing request")
	case len(r.Nodes) == 0:
		return nil, nil, errors.New("run: no nodes")
	case len(r.Nodes) > maxRanks:
		return nil, nil, fmt.Errorf("run: %d ranks exceed the limit of %d", len(r.Nodes), maxRanks)
	}
	check := wire.ProcStart{Path: r.Path, Builtin: r.Builtin, Argv: r.Argv, Env: r.Env, Dir: r.Dir,
		StdinFile: r.StdinFile, StdoutFile: r.StdoutFile, StderrFile: r.StderrFile}
	if err := check.Validate(); err != nil {
		return nil, nil, fmt.Errorf("run: %w", err)
	}
	j := &job{c: c, cred: c.cred, run: *r}
	out := make([]localapi.Rank, len(r.Nodes))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, num := range r.Nodes {
		out[i].Node = num
		n := m.nodes[num]
		switch {
		case n == nil:
			out[i].Error = errInvalidNode
		case n.accessError(c.cred) != "":
			out[i].Error = n.accessError(c.cred)
		default:
			tok, err := ghost.NewToken()
			if err != nil {
				return nil, nil, err
			}
			m.pending[tok] = &rank{job: j, index: i, node: num, token: tok}
			out[i].Token = tok.String()
		}
	}
	return j, out, nil
}

// dropJob forgets the ranks whose ghosts never came: their client is gone.
func (m *Master) dropJob(j *job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tok, r := range m.pending {
		if r.job == j {
			delete(m.pending, tok)
		}
	}
}

func (m *Master) procList() []localapi.Proc {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]localapi.Proc, 0, len(m.procs))
	for _, p := range m.procs {
		out = append(out, localapi.Proc{PID: p.pid, NodePID: p.nodePID, Node: p.rank.node, UID: p.job.cred.UID, Argv: p.job.run.Argv})
	}
	return out
}

// proc is a remote process and its ghost.
type proc struct {
	m     *Master
	pid   int // the ghost's PID
	rank  *rank
	job   *job
	ghost *net.UnixConn
	files [3]*os.File

	mu      sync.Mutex // guards the fields below
	ch      ssh.Channel
	nodePID int
	next    *preChannel // the node it is being moved to, once it runs there
}

// serveGhost takes a ghost from hello to exit.
func (m *Master) serveGhost(c *net.UnixConn, cred peercred.Cred, first []byte, fds []int) {
	log := m.log.With("pid", cred.PID)
	hello := make([]byte, ghost.HelloSize)
	copy(hello, first)
	if _, err := io.ReadFull(c, hello[len(first):]); err != nil {
		closeAll(fds)
		log.Warn("ghost hello", "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	tok, mask, err := ghost.ParseHello(hello, len(fds))
	if err != nil {
		closeAll(fds)
		log.Warn("ghost hello", "err", err)
		c.Close()
		return
	}
	m.mu.Lock()
	r := m.pending[tok]
	if r != nil && r.job.cred.UID == cred.UID {
		delete(m.pending, tok)
	}
	m.mu.Unlock()
	if r == nil || r.job.cred.UID != cred.UID {
		closeAll(fds)
		log.Warn("ghost refused: unknown token or another user's", "uid", cred.UID)
		ghost.WriteExit(c, 255)
		c.Close()
		return
	}
	p := &proc{m: m, pid: cred.PID, rank: r, job: r.job, ghost: c}
	k := 0
	for i := 0; i < 3; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		fd := fds[k]
		k++
		var f *os.File
		var err error
		switch {
		case i > 0:
			f, err = r.job.outputs.open(fd)
		case isDevNull(fd):
			unix.Close(fd) // no stdin: the process reads EOF, and no descriptor is held
			continue
		default:
			f, err = stream(fd, false)
		}
		if err != nil {
			log.Warn("ghost stdio", "fd", i, "err", err)
			continue
		}
		p.files[i] = f
	}
	p.run()
}

// run starts the remote process and relays until it has ended.
func (p *proc) run() {
	m := p.m
	defer p.closeFiles()
	defer p.ghost.Close()

	m.mu.Lock()
	n := m.nodes[p.rank.node]
	sc := n.conn
	why := n.accessError(p.job.cred)
	if why != "" {
		m.mu.Unlock()
		if p.rank.pre != nil {
			p.rank.pre.ch.Close()
		}
		p.finish(wire.ExitStatus{Code: 255}, false, why)
		return
	}
	m.procs[p.pid] = p
	n.procs[p.pid] = p
	delete(n.moving, p.pid) // a moved process is a proc now
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.procs, p.pid)
		delete(n.procs, p.pid)
		if now := m.nodes[p.rank.node]; now != nil {
			delete(now.procs, p.pid) // moved since
		}
		m.mu.Unlock()
	}()

	var ch ssh.Channel
	var reqs <-chan *ssh.Request
	if pre := p.rank.pre; pre != nil {
		ch, reqs = pre.ch, pre.reqs
		p.mu.Lock()
		p.nodePID = pre.nodePID
		p.mu.Unlock()
	} else {
		var ok bool
		if ch, reqs, ok = p.open(sc, n); !ok {
			return
		}
	}
	// The channel is known before the ghost's events are read: a signal
	// sent to the ghost at once (a parent's kill right after
	// bproc_rfork returned) would otherwise find none and be lost.
	p.mu.Lock()
	p.ch = ch
	p.mu.Unlock()
	ghostGone := make(chan struct{})
	go p.ghostEvents(ghostGone)
	for {
		status := p.relay(ch, reqs)
		select {
		case <-ghostGone:
			// The ghost was killed: its remote process was killed with it.
			p.finish(wire.ExitStatus{Signal: syscall.SIGKILL}, true, "")
			return
		default:
		}
		// Moved to another node: the same relay goes on there.
		p.mu.Lock()
		next := p.next
		p.next = nil
		p.mu.Unlock()
		if next != nil && status == nil {
			ch, reqs = next.ch, next.reqs
			continue
		}
		if status == nil {
			p.finish(wire.ExitStatus{Signal: syscall.SIGKILL}, true, errNodeDied)
			return
		}
		p.finish(*status, true, "")
		return
	}
}

// relay moves the process's stdio, signals and requests over ch until
// the node closes it, and returns the exit status the node reported, if
// it did.
func (p *proc) relay(ch ssh.Channel, reqs <-chan *ssh.Request) *wire.ExitStatus {
	m := p.m
	p.mu.Lock()
	p.ch = ch
	p.mu.Unlock()

	stopIn := make(chan struct{})
	var out sync.WaitGroup
	inDone := p.pumpIn(ch, stopIn)
	out.Go(func() { p.pumpOut(p.files[1], ch) })
	out.Go(func() { p.pumpOut(p.files[2], ch.Stderr()) })

	var status *wire.ExitStatus
	for req := range reqs {
		switch req.Type {
		case wire.ReqStarted:
			var s wire.Started
			if wire.Decode(req.Type, req.Payload, &s) == nil {
				p.mu.Lock()
				p.nodePID = s.PID
				p.mu.Unlock()
			}
		case wire.ReqExit:
			if s, err := wire.UnmarshalExitStatus(req.Payload); err == nil {
				status = &s
			} else {
				m.log.Warn("bad exit status from node", "node", p.rank.node, "pid", p.pid, "err", err)
			}
		case wire.ReqWarning:
			p.job.c.send(localapi.Event{Rank: p.rank.index, PID: p.pid, Warning: string(req.Payload)})
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
	out.Wait()
	close(stopIn)
	ch.Close()
	p.mu.Lock()
	moving := p.next != nil
	p.mu.Unlock()
	if moving {
		<-inDone // a file that cannot be interrupted ends with the process
	}
	return status
}

// finish tells the client how the rank ended, then the ghost, in that order:
// the client must hold the reason before it reaps the ghost.
func (p *proc) finish(s wire.ExitStatus, started bool, why string) {
	p.job.c.send(localapi.Event{Rank: p.rank.index, PID: p.pid, Started: started, Status: s, Error: why, Final: true})
	if s.Signal != 0 {
		ghost.WriteSignal(p.ghost, s.Signal)
	} else {
		ghost.WriteExit(p.ghost, s.Code)
	}
}

// rankEnv is the caller's environment plus BPROC_RANK and BPROC_NODE.
func rankEnv(env []string, r *rank) []string {
	out := make([]string, 0, len(env)+2)
	for _, e := range env {
		if !strings.HasPrefix(e, "BPROC_RANK=") && !strings.HasPrefix(e, "BPROC_NODE=") {
			out = append(out, e)
		}
	}
	return append(out, fmt.Sprintf("BPROC_RANK=%07d", r.index), fmt.Sprintf("BPROC_NODE=%d", r.node))
}

// pumpIn copies the ghost's stdin to the process until EOF, or until the
// process has ended (stop), whichever comes first.
//
// The returned channel closes when the copy has stopped: a process moved
// to another node gets the rest of its stdin there, none of it lost to
// the copy that fed the old node.
func (p *proc) pumpIn(ch ssh.Channel, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	f := p.files[0]
	if f == nil || p.job.run.NoIO || p.job.run.StdinFile != "" {
		ch.CloseWrite()
		close(done)
		return done
	}
	f.SetReadDeadline(time.Time{})
	go func() {
		select {
		case <-stop:
			f.SetReadDeadline(time.Now()) // only pollable files; others end with the process anyway
		case <-done:
		}
	}()
	go func() {
		io.Copy(ch, f)
		ch.CloseWrite()
		close(done)
	}()
	return done
}

// pumpOut copies one output stream of the process to the ghost's descriptor.
// When the reader there has gone (EPIPE), the remote process gets the
// SIGPIPE it would have got locally, and the rest is drained.
func (p *proc) pumpOut(f *os.File, r io.Reader) {
	if f == nil {
		io.Copy(io.Discard, r)
		return
	}
	_, err := io.Copy(f, r)
	if errors.Is(err, syscall.EPIPE) {
		p.signal(syscall.SIGPIPE)
		io.Copy(io.Discard, r)
	}
}

// ghostEvents relays the signals the ghost receives. The ghost's hang-up
// means it was killed (SIGKILL): the remote process is killed too.
func (p *proc) ghostEvents(gone chan<- struct{}) {
	for {
		typ, arg, err := ghost.ReadEvent(p.ghost)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				close(gone)
				p.signal(syscall.SIGKILL)
				p.mu.Lock()
				ch := p.ch
				p.mu.Unlock()
				ch.Close()
			}
			return
		}
		if typ != ghost.EventSignal {
			continue
		}
		sig := syscall.Signal(arg)
		if sig == syscall.SIGWINCH && p.job.run.TTY != nil {
			p.mu.Lock()
			ch := p.ch
			p.mu.Unlock()
			p.forwardWindow(ch)
			continue
		}
		p.signal(sig)
	}
}

// forwardWindow reads the terminal size from the ghost's stdin (the user's
// terminal) and sends it to the node's pseudo-terminal.
func (p *proc) forwardWindow(ch ssh.Channel) {
	f := p.files[0]
	if f == nil {
		return
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	ch.SendRequest(wire.ReqWindow, false, wire.Encode(wire.Window{Rows: ws.Row, Cols: ws.Col}))
}

// signal delivers sig to the remote process.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	ch := p.ch
	p.mu.Unlock()
	if ch != nil {
		ch.SendRequest(wire.ReqSignal, false, wire.MarshalSignal(sig))
	}
}

func (p *proc) closeFiles() {
	if f := p.files[0]; f != nil {
		f.Close()
	}
	for _, f := range p.files[1:] {
		if f != nil {
			p.job.outputs.release(f)
		}
	}
}

// open opens the node channel that starts the process.
func (p *proc) open(sc ssh.Conn, n *node) (ssh.Channel, <-chan *ssh.Request, bool) {
	r := p.job.run
	start := wire.ProcStart{
		PID: p.pid, Node: p.rank.node, Rank: p.rank.index,
		Path: r.Path, Builtin: r.Builtin, Argv: r.Argv, Env: rankEnv(r.Env, p.rank), Dir: r.Dir,
		UID: p.job.cred.UID, GID: p.job.cred.GID, Groups: p.job.cred.Groups,
		TTY: r.TTY, NoIO: r.NoIO, StdinFile: r.StdinFile, StdoutFile: r.StdoutFile, StderrFile: r.StderrFile,
	}
	m := p.m
	m.mu.Lock()
	// A node with a view of the master's files reads them as the user
	// when the program runs; one without gets them pushed.
	diskless := n.hello.Diskless && !n.hello.View
	m.mu.Unlock()
	if diskless && start.Builtin == "" {
		c := p.job.cred
		push, err := pushList(&m.hashes, asuser.Cred{UID: c.UID, GID: c.GID, Groups: c.Groups}, &start)
		if err != nil {
			p.finish(wire.ExitStatus{Code: pushCode(err)}, false, err.Error())
			return nil, nil, false
		}
		start.Push = push
	}
	ch, reqs, err := sc.OpenChannel(wire.ChanProc, wire.Encode(start))
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			p.finish(wire.ExitStatus{Code: wire.RejectCode(oce.Reason)}, false, oce.Message)
		} else {
			p.finish(wire.ExitStatus{Code: 255}, false, errNodeDied)
		}
		return nil, nil, false
	}
	return ch, reqs, true
}
