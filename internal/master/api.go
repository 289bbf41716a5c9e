package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/acceptloop"
	"github.com/bproc/bproc/internal/shared/clip"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

func (m *Master) acceptLocal(ctx context.Context, l *net.UnixListener) {
	serve := func(c net.Conn) { m.routines.serve(c, func() { m.serveLocal(c.(*net.UnixConn)) }) }
	err := acceptloop.ServeFull(l, serve, m.outOfFiles,
		func(err error) { m.warns.Warn(m.log, noUID, "accept on local socket; trying again", "err", err) })
	if err != nil && ctx.Err() == nil {
		m.log.Error("accept on local socket", "err", err)
	}
}

// noUID keys the warnings that have no caller yet.
const noUID = ^uint32(0)

// firstFrameTimeout bounds a new connection's first frame (a ghost's
// hello, a client's request), from the connection on.
const firstFrameTimeout = 10 * time.Second

// outOfFiles is given a connection accepted on the spare descriptor when
// the master has none left: root's is served (bpstat must answer when a
// user took every descriptor), anyone else's closed.
func (m *Master) outOfFiles(conn net.Conn) {
	c := conn.(*net.UnixConn)
	if cred, err := localapi.PeerCred(c); err == nil && cred.UID == 0 {
		m.routines.serve(c, func() { m.serveLocal(c) })
		return
	}
	m.warns.Warn(m.log, noUID, "local connection refused: out of file descriptors")
	c.Close()
}

// serveLocal tells a ghost from a client by the first four bytes. The first
// read must be a recvmsg with room for file descriptors: a ghost sends its
// stdio with its hello, and a plain read would drop them.
func (m *Master) serveLocal(c *net.UnixConn) {
	cred, err := localapi.PeerCred(c)
	if err != nil {
		m.warns.Warn(m.log, noUID, "local connection without credentials", "err", err)
		c.Close()
		return
	}
	release, provisional, ok := m.conns.admit(cred.UID)
	if !ok {
		m.refuseOverMax(c, cred)
		return
	}
	firstBy := time.Now().Add(firstFrameTimeout)
	c.SetReadDeadline(firstBy)
	first := make([]byte, ghost.HelloSize)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(first, oob)
	if err != nil || n == 0 {
		c.Close()
		release()
		return
	}
	files, ferr := unixRights(oob[:oobn])
	for n < 4 && err == nil { // a client frame header may arrive in pieces
		var k int
		k, err = c.Read(first[n:4])
		n += k
	}
	if bytes.HasPrefix(first[:n], []byte(ghost.Magic)) {
		if ferr != nil {
			closeAll(files)
			m.warns.Warn(m.log, cred.UID, "ghost hello", "pid", cred.PID, "err", ferr)
			c.Close()
			release()
			return
		}
		m.serveGhost(c, cred, first[:n], files, release, provisional)
		return
	}
	if bytes.HasPrefix(first[:n], []byte(ghost.ResumeMagic)) {
		if ferr != nil {
			closeAll(files)
			m.warns.Warn(m.log, cred.UID, "ghost hello", "pid", cred.PID, "err", ferr)
			c.Close()
			release()
			return
		}
		m.serveReturning(c, cred, first[:n], files, release) // procs_restart.go
		return
	}
	closeAll(files) // a client has no business sending descriptors
	// Let in past maxconns for a descendant's ghost only.
	if provisional {
		m.refuseOverMax(c, cred)
		return
	}
	defer release()
	m.serveClient(c, cred, io.MultiReader(bytes.NewReader(first[:n]), c), firstBy)
}

func unixRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, msg := range msgs {
		f, err := unix.ParseUnixRights(&msg)
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// client is one connection of bpsh, bpstat or a program using package bproc.
type client struct {
	conn *net.UnixConn // nil for a process on a node (ChanAPI)
	w    io.Writer     // where frames go: conn, or the node's channel
	cred localapi.Cred
	log  *slog.Logger
	// node is the node a process on a node asks from; -1 on the master.
	node int

	wmu sync.Mutex // serialises frames written by the rank goroutines
}

func (c *client) send(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return localapi.WriteFrame(c.w, v)
}

// serveClient answers a client on the master's socket; its first frame
// must be in by firstBy.
func (m *Master) serveClient(conn *net.UnixConn, cred localapi.Cred, r io.Reader, firstBy time.Time) {
	c := &client{conn: conn, w: conn, cred: cred, node: -1, log: m.log.With("uid", cred.UID, "pid", cred.PID)}
	rr := m.requestReader(c, r, func(t time.Time) { conn.SetReadDeadline(t) })
	rr.First = firstBy
	m.serveFrames(c, rr, conn)
}

// requestReader reads c's requests from r, charged to c's user; deadline
// sets the connection's read deadline.
func (m *Master) requestReader(c *client, r io.Reader, deadline func(time.Time)) *localapi.RequestReader {
	return &localapi.RequestReader{R: r, SetDeadline: deadline,
		Charge: func(n int, by time.Time) (func(), error) { return m.budget.Charge(c.cred.UID, n, by) }}
}

// serveFrames answers c's requests read from rr until it hangs up; closer
// ends the connection.
func (m *Master) serveFrames(c *client, rr *localapi.RequestReader, closer io.Closer) {
	conn := closer
	var jobs []*job
	var seen chan struct{} // closed at the next change of the table this client last got
	defer func() {
		for _, j := range jobs {
			m.dropJob(j)
			m.endJob(j)
		}
		conn.Close()
	}()
	for {
		var req localapi.Request
		if err := rr.Read(&req); err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				m.warns.Warn(c.log, c.cred.UID, "bad request", "err", err)
				var reply localapi.Reply
				reply.Fail(err)
				c.send(reply)
			}
			return
		}
		var reply localapi.Reply
		if c.node >= 0 && !slices.Contains(fromNode, req.Op) {
			reply.Error = fmt.Sprintf("%s: not from a node", req.Op)
			if err := c.send(reply); err != nil {
				return
			}
			continue
		}
		switch req.Op {
		case localapi.OpNodes:
			reply.Nodes, seen = m.tableSince()
		case localapi.OpProcs:
			reply.Procs = m.procList()
		case localapi.OpRun:
			if req.Run != nil && req.Run.Stub && len(req.Run.Nodes) != 1 {
				reply.Error = "run: the caller becomes the ghost of one rank only"
				break
			}
			if c.node >= 0 && req.Run != nil && req.Run.Stub {
				reply.Error = "run: a process on a node cannot become a ghost"
				break
			}
			j, ranks, err := m.newJob(c, req.Run)
			if err != nil {
				reply.Fail(err)
				break
			}
			if c.node >= 0 {
				if err := m.startNodeGhosts(c, j, req.Run, ranks); err != nil {
					m.dropJob(j)
					reply.Fail(err)
					break
				}
			}
			if req.Run.Stub {
				// The caller executes the stub and hangs up: its ghost
				// must find the rank after that, or never.
				time.AfterFunc(ghostArrival, func() { m.dropJob(j) })
				if err := c.sendWithStub(localapi.Reply{Ranks: ranks}); err != nil {
					return
				}
				continue
			}
			jobs = append(jobs, j)
			reply.Ranks = ranks
		case localapi.OpSignal:
			if err := m.signalRequest(c.cred, req.Signal); err != nil {
				reply.Fail(err)
			}
		case localapi.OpCtl:
			failed, err := m.ctl(c.cred, req.Ctl)
			if err != nil {
				reply.Fail(err)
			}
			reply.Failed = failed
		case localapi.OpMove:
			var err error
			if c.node >= 0 {
				err = m.moveFromNode(c, req.Node)
			} else {
				err = m.move(c, req.Node)
			}
			if err == nil || errors.Is(err, errMovedAway) {
				continue // answered with the ghost stub attached, or gone
			}
			reply.Fail(err)
		case localapi.OpVRfork:
			if err := m.vrfork(c, req.VRfork); err != nil {
				reply.Fail(err)
				break
			}
			continue // answered with the ghost stub attached
		case localapi.OpAddNode:
			num, err := m.addNode(c.cred, req.MAC)
			if err != nil {
				reply.Fail(err)
				break
			}
			reply.Added = &num
		case localapi.OpNodeToken:
			tok, err := m.nodeToken(c.cred, req.Node)
			if err != nil {
				reply.Fail(err)
				break
			}
			reply.Token = tok
		case localapi.OpAttach:
			s, err := m.takeStream(c, req.Attach)
			if err != nil {
				reply.Fail(err)
				break
			}
			if err := c.send(reply); err != nil {
				s.Close()
				return
			}
			pumpStream(s, rr.R, c.w)
			return
		case localapi.OpLost:
			lost, err := m.lost.query(c.cred, req.PIDs)
			if err != nil {
				reply.Fail(err)
				break
			}
			reply.Lost = lost
		case localapi.OpWhere:
			where := c.node
			reply.Where = &where
		case localapi.OpEvents:
			m.serveEvents(c)
			return
		case localapi.OpWatch:
			m.awaitChange(seen, m.watchLimit)
			reply.Nodes, seen = m.tableSince()
		default:
			reply.Fail(fmt.Errorf("%w %q", localapi.ErrUnknownOp, clip.S(req.Op)))
		}
		if err := c.send(reply); err != nil {
			return
		}
	}
}

// signalRequest lets a caller signal a remote process the way kill(2) would
// let it signal the process itself.
func (m *Master) signalRequest(cred localapi.Cred, s *localapi.Signal) error {
	if s == nil || s.Signal <= 0 || s.Signal > 64 {
		return fmt.Errorf("signal: bad request")
	}
	m.mu.Lock()
	p := m.procs[s.PID]
	m.mu.Unlock()
	if p == nil && m.nodeRuns.signalGhost(cred, s.PID, syscall.Signal(s.Signal)) {
		return nil // a node's ghost before its hello (api_noderun_signal.go)
	}
	if p == nil {
		return fmt.Errorf("signal %d: %w", s.PID, errInvalidProcess)
	}
	if cred.UID != 0 && cred.UID != p.job.cred.UID {
		return fmt.Errorf("signal %d: %w", s.PID, syscall.EPERM)
	}
	p.signal(syscall.Signal(s.Signal))
	return nil
}

// refuseOverMax closes a connection of a user who holds maxconns.
func (m *Master) refuseOverMax(c *net.UnixConn, cred localapi.Cred) {
	m.warns.Warn(m.log, cred.UID, "local connection refused: the user holds as many as maxconns allows",
		"uid", cred.UID, "pid", cred.PID, "maxconns", m.conns.max())
	c.Close()
}
