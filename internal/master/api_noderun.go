package master

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// A process on a node may start processes too (bpsh 0 bpsh 1 hostname;
// Open MPI's tree spawn runs its rsh agent, bprsh, on the nodes). Its
// ghosts cannot be its children: they must be processes of the master,
// with the master's PIDs, which the remote processes take. So the master
// starts them itself, as the caller (the user its node saw through
// SO_PEERCRED, never what the process says), each with a socket for its
// stdin and stdout and one for its stderr; the caller joins those with
// OpAttach, a connection of its own per stream, which after the reply
// carries the bytes raw through its node's ChanAPI. Exit statuses come as
// the run's events, as for any caller; signals with OpSignal.

// maxNodeGhosts bounds the ghosts the master runs at once for one user's
// processes on nodes: each is a process of the master's, under that uid.
const maxNodeGhosts = 4096

// nodeRuns are the ghosts the master started for callers on nodes.
type nodeRuns struct {
	mu      sync.Mutex
	streams map[string]*nodeStreams // by rank token, until attached
	perUID  map[uint32]int          // ghosts running, per user
	ghosts  map[int]nodeGhost       // by PID, until reaped (api_noderun_signal.go)
}

// nodeStreams are the master's ends of one rank's stdio sockets; nil once
// attached.
type nodeStreams struct {
	uid   uint32
	inout *net.UnixConn // the ghost's fds 0 and 1
	err   *net.UnixConn // the ghost's fd 2
}

func (s *nodeStreams) close() {
	for _, c := range []*net.UnixConn{s.inout, s.err} {
		if c != nil {
			c.Close()
		}
	}
}

// startNodeGhosts starts the ghosts of j's ranks (those with a token) for
// c, a process on a node, and sets their PIDs in ranks. A rank whose ghost
// cannot start is refused.
func (m *Master) startNodeGhosts(c *client, j *job, r *localapi.Run, ranks []localapi.Rank) error {
	want := 0
	for _, rk := range ranks {
		if rk.Token != "" {
			want++
		}
	}
	nr := &m.nodeRuns
	nr.mu.Lock()
	if nr.perUID == nil {
		nr.perUID = map[uint32]int{}
		nr.streams = map[string]*nodeStreams{}
	}
	if nr.perUID[c.cred.UID]+want > maxNodeGhosts {
		running := nr.perUID[c.cred.UID]
		nr.mu.Unlock()
		return fmt.Errorf("run: %d processes from nodes for uid %d, %d running: the limit is %d", want, c.cred.UID, running, maxNodeGhosts)
	}
	nr.perUID[c.cred.UID] += want
	nr.mu.Unlock()

	g := &ghost.Group{Argv: r.Argv, Socket: m.cfg.Socket, Setpgid: true,
		Cred: &syscall.Credential{Uid: c.cred.UID, Gid: c.cred.GID, Groups: c.cred.Groups}}
	defer g.Close()
	for i := range ranks {
		if ranks[i].Token == "" {
			continue
		}
		pid, s, err := m.startNodeGhost(g, ranks[i].Token, c.cred.UID)
		if err != nil {
			m.forgetToken(j, ranks[i].Token)
			m.nodeGhostGone(c.cred.UID)
			ranks[i].Token = ""
			ranks[i].Refuse(fmt.Errorf("%d: %w", ranks[i].Node, err))
			continue
		}
		ranks[i].PID = pid
		nr.addGhost(pid, c.cred.UID)
		tok := ranks[i].Token
		nr.mu.Lock()
		nr.streams[tok] = s
		nr.mu.Unlock()
		// Not attached in time: the caller is gone or never will.
		time.AfterFunc(ghostArrival, func() {
			nr.mu.Lock()
			s, ok := nr.streams[tok]
			delete(nr.streams, tok)
			nr.mu.Unlock()
			if ok {
				s.close()
			}
		})
		go func() {
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
					break
				}
			}
			nr.ghostReaped(pid)
			m.nodeGhostGone(c.cred.UID)
		}()
	}
	return nil
}

// startNodeGhost starts one ghost of g with token tok and returns its PID
// and the master's ends of its stdio sockets.
func (m *Master) startNodeGhost(g *ghost.Group, tok string, uid uint32) (int, *nodeStreams, error) {
	t, err := ghost.ParseToken(tok)
	if err != nil {
		return 0, nil, err
	}
	inout, ghostInout, err := unixPair()
	if err != nil {
		return 0, nil, err
	}
	defer ghostInout.Close()
	errc, ghostErr, err := unixPair()
	if err != nil {
		inout.Close()
		return 0, nil, err
	}
	defer ghostErr.Close()
	pid, err := g.Start(t, [3]*os.File{ghostInout, ghostInout, ghostErr})
	if err != nil {
		inout.Close()
		errc.Close()
		return 0, nil, err
	}
	return pid, &nodeStreams{uid: uid, inout: inout, err: errc}, nil
}

// unixPair is a connected pair of stream sockets: ours, and the ghost's.
func unixPair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "node-stdio")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "ghost-stdio"), nil
}

func (m *Master) nodeGhostGone(uid uint32) {
	m.nodeRuns.mu.Lock()
	defer m.nodeRuns.mu.Unlock()
	if m.nodeRuns.perUID[uid]--; m.nodeRuns.perUID[uid] <= 0 {
		delete(m.nodeRuns.perUID, uid)
	}
}

// forgetToken drops a rank of j that will have no ghost.
func (m *Master) forgetToken(j *job, tok string) {
	t, err := ghost.ParseToken(tok)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rk := m.pending[t]; rk != nil && rk.job == j {
		delete(m.pending, t)
	}
}

// takeStream hands c, on a node, the master's end of a stream of a rank
// it started, once.
func (m *Master) takeStream(c *client, a *localapi.Attach) (*net.UnixConn, error) {
	if a == nil {
		return nil, errors.New("attach: missing request")
	}
	if c.node < 0 {
		return nil, errors.New("attach: only from a node")
	}
	nr := &m.nodeRuns
	nr.mu.Lock()
	defer nr.mu.Unlock()
	s := nr.streams[a.Token]
	if s == nil || s.uid != c.cred.UID {
		return nil, fmt.Errorf("attach: %w", errInvalidProcess)
	}
	var got *net.UnixConn
	switch a.Stream {
	case localapi.StreamInOut:
		got, s.inout = s.inout, nil
	case localapi.StreamErr:
		got, s.err = s.err, nil
	default:
		return nil, fmt.Errorf("attach: no stream %d", a.Stream)
	}
	if got == nil {
		return nil, fmt.Errorf("attach: stream %d: already attached", a.Stream)
	}
	if s.inout == nil && s.err == nil {
		delete(nr.streams, a.Token)
	}
	return got, nil
}

// pumpStream joins a rank's stream s to the caller's connection (r, w)
// until the rank's side ends: its ghost exited, and the master let go of
// its stdio. Input ends with the caller's, as a shutdown of s.
func pumpStream(s *net.UnixConn, r io.Reader, w io.Writer) {
	defer s.Close()
	go func() {
		io.Copy(s, r)
		s.CloseWrite()
	}()
	io.Copy(w, s)
	if cw, ok := w.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
