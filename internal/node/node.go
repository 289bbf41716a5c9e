// Package node is bpslave, the node daemon: it dials the master, says which
// node it is, and runs the processes the master asks for with the PIDs of
// their ghosts. On a netbooted node and on a local namespace node it is PID 1.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/spacemux"
	"github.com/bproc/bproc/internal/shared/spawn"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Config is what bpslave is started with.
type Config struct {
	Master string // host:port of the master
	Node   int    // which node this is
	// Key is the node's own key, made at its start and kept in memory
	// (nodeauth.NewNodeKey): the master pins it at the first connection.
	Key ssh.Signer
	// Token is the boot token that first connection shows (the kernel
	// command line's bproc.token, or what the master hands a local node).
	Token   string
	HostKey ssh.PublicKey // the master's host key, pinned
	Local   bool          // a namespace node on the master's machine
	// MasterLock, for a namespace node, is the master's
	// wire.MasterLockFile, opened before the node root was built: a
	// running master holds a lock on it (orphan.go). nil: the parent-death
	// signal alone tells.
	MasterLock *os.File
	// Diskless: the root holds none of the master's files; programs are
	// pushed before they start.
	Diskless bool
	// View, with Diskless: processes run in a root that shows the master's
	// files through a FUSE view (see view). Without it, or when the view
	// cannot be mounted, programs are pushed to the node's own root.
	View *ViewConfig
	// CacheSize limits the copies of the master's files a diskless node
	// keeps (bytes, 0: none): the view's, or the push's without one.
	CacheSize int64
	// TmpSize is the size in bytes of each tmpfs the node mounts for its
	// processes (the view's /run); 0 is the kernel's default.
	TmpSize int64
	// PingInterval: the master is pinged this often, and given up after two
	// silent intervals (its remote processes are then killed).
	PingInterval time.Duration
	Log          *slog.Logger
}

// Slave is a running node daemon.
type Slave struct {
	cfg    Config
	log    *slog.Logger
	reaper *spawn.Reaper

	mu    sync.Mutex // guards procs, perUser, sessions and action
	procs map[int]*proc
	// perUser is how many processes each user has here (admit).
	perUser map[uint32]int
	// sessions are those of every remote process started here since the
	// master was last lost (each leads its own): what killAll ends.
	sessions map[int]bool
	pruneAt  int      // len(sessions) at which ended ones are looked for
	action   string   // reboot, halt or pwroff, once the master asked for it
	self     string   // this node's bproc binary, for builtins
	conn     ssh.Conn // the master, while connected
	// enrolled: the token was taken and the key pinned; every later
	// connection signs with the key.
	enrolled bool
	keyNext  bool   // the last try showed the token and failed
	pushed   pushed // programs fetched to a diskless node
	view     *view  // the master's files, on a diskless node that has them

	api *net.UnixListener // the local API for the node's processes

	space *space // the processes that the node's processes fork (space.go)
	// spaceMux carries their relays on connection spaceConn (guarded
	// by mu; adopt_space.go).
	spaceMux  *spacemux.Mux
	spaceConn ssh.Conn

	keeper keeper // the relays of the processes, kept through a lost master (resume.go)
	// orphaned: the master process that started this namespace node is
	// gone (orphan.go).
	orphaned atomic.Bool

	selfOnce sync.Once
	selfFile *os.File // s.self, open, for bpcp in the view
}

// New makes a node daemon; Run connects it.
func New(cfg Config) *Slave {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 15 * time.Second
	}
	// A node's root holds the binary as /init (netbooted or namespace
	// node); a bpslave started by hand runs from wherever it is.
	self, err := os.Executable()
	if _, serr := os.Stat("/init"); serr == nil && (cfg.Local || os.Getpid() == 1) || err != nil {
		self = "/init"
	}
	s := &Slave{cfg: cfg, log: cfg.Log.With("node", cfg.Node), reaper: spawn.NewReaper(), procs: make(map[int]*proc), sessions: make(map[int]bool), self: self}
	s.space = newSpace(s)
	return s
}

// Run keeps a connection to the master until ctx ends, reconnecting with
// backoff. Whenever the connection is lost, every remote process is killed:
// their ghosts on the master are gone with it.
func (s *Slave) Run(ctx context.Context) error {
	started := false
	backoff := 100 * time.Millisecond
	s.watchOrphan()
	var away time.Time // since when no master answers
	for {
		began := time.Now()
		conn, chans, reqs, err := s.dial(ctx)
		if err == nil {
			away = time.Time{}
			err = s.session(ctx, conn, chans, reqs, &started)
		}
		if away.IsZero() {
			away = time.Now()
		}
		if ctx.Err() != nil || !s.keeper.keepThroughLoss(s) {
			s.killAll()
			if s.view != nil {
				s.view.masterLost() // after the SIGKILLs: a process waiting on a file dies of one
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if s.orphanOver(away) {
			s.log.Warn("no master came back within the grace time; the namespace node ends", "grace", s.keeper.graceNow())
			s.killAll()
			return nil
		}
		s.mu.Lock()
		action := s.action
		s.action = ""
		s.mu.Unlock()
		// A namespace node ends on any action: its master builds a new one
		// for a reboot. By hand, a reboot is a fresh connection.
		if action != "" && (s.cfg.Local || action != wire.ActionReboot) {
			s.log.Info("stopping", "action", action)
			return nil
		}
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		s.log.Warn("master connection lost; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// startServices starts the view of the master's files (a diskless node)
// and the local API for the node's processes.
func (s *Slave) startServices(ctx context.Context) {
	if s.cfg.Diskless && s.cfg.View != nil {
		v, err := s.startView(ctx)
		if err != nil {
			s.log.Warn("no view of the master's files; programs are pushed to the node's root", "err", err)
		}
		s.view = v
	}
	if s.view == nil && (s.cfg.Local || os.Getpid() == 1) {
		// With a view, its start makes the socket in the view's /run. A
		// bpslave run by hand on some machine serves none: the path is
		// that machine's master's.
		if err := s.serveAPI(apiSocket); err != nil {
			s.log.Warn("no local API for the node's processes", "err", err)
		}
	}
}

// dial connects to the master: with the boot token until a connection
// took it, then with the node's key. After a failed try with the token
// the next one signs with the key, and the one after shows the token
// again: a token the master took on a connection that broke before the
// node heard so is spent, and the key is pinned; a token that never
// reached the master is still good.
func (s *Slave) dial(ctx context.Context) (ssh.Conn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	auth := ssh.PublicKeys(s.cfg.Key)
	token := !s.enrolled && s.cfg.Token != "" && !s.keyNext
	if token {
		auth = BootAuth(s.cfg.Token, s.cfg.Key)
	}
	conn, chans, reqs, err := DialMaster(ctx, s.cfg.Master, wire.User(s.cfg.Node), auth, s.cfg.HostKey)
	if err == nil {
		s.enrolled = true
	} else {
		s.keyNext = token
	}
	return conn, chans, reqs, err
}

// session serves one connection to the master. The node's services start
// in the first (started), once the master answers its requests: after
// the connection that pinned this node's key, with which nodeview dials.
func (s *Slave) session(ctx context.Context, conn ssh.Conn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, started *bool) error {
	defer conn.Close()
	// lost tells the processes' relays that their channels ended with the
	// connection, not by the master's close.
	lost := make(chan struct{})
	s.keeper.session(lost)
	defer close(lost)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	actions := make(chan string, 1)
	go s.masterRequests(reqs, actions)
	if !*started {
		*started = true
		s.startServices(ctx)
	}
	if s.view != nil {
		// Now, before the hello: the master starts no process here until
		// it has answered that, so the view dials again before any asks.
		s.view.masterBack()
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	host, _ := os.Hostname()
	stats, _ := readStats("/proc")
	flags, _ := vmadump.ReadCPUFlags()
	kept, keptUIDs := s.keeper.kept()
	ok, payload, err := conn.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{
		Version: "bproc", Protocol: wire.Protocol, Hostname: host, Kernel: unix.ByteSliceToString(uts.Release[:]), Local: s.cfg.Local, Diskless: s.cfg.Diskless, View: s.view != nil, Stats: stats, CPUFlags: flags,
		Kept: kept, KeptUIDs: keptUIDs,
	}))
	if err != nil {
		return fmt.Errorf("hello to master: %w", err)
	}
	if !ok {
		return fmt.Errorf("hello to master: refused: %s", clipReason(payload))
	}
	interval := s.cfg.PingInterval
	var hr wire.HelloReply
	if wire.Decode("hello reply", payload, &hr) == nil && hr.PingInterval > 0 {
		interval = hr.PingInterval
	}
	proto, err := wire.Speak(hr.Protocol)
	if err != nil {
		return fmt.Errorf("hello to master: %w", err)
	}
	s.log.Info("connected to master", "master", s.cfg.Master, "ping", interval, "protocol", proto)
	grace := hr.Grace
	if proto < 2 {
		grace = 0
	}
	s.keeper.helloed(s, grace, proto >= 3, hr.Resume)
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()
	done := make(chan struct{})
	defer close(done)
	go s.pingMaster(conn, interval, done)
	go func() {
		select {
		case a := <-actions:
			s.act(a, conn)
		case <-done:
		}
	}()
	for nc := range chans {
		switch nc.ChannelType() {
		case wire.ChanProc:
			go s.startProc(nc)
		case wire.ChanDump:
			go s.dumpProc(nc)
		case wire.ChanAdopt:
			go s.adopt(nc)
		case wire.ChanSpace:
			go s.acceptSpace(nc, conn)
		case wire.ChanResume:
			go s.resume(nc, lost)
		default:
			nc.Reject(ssh.UnknownChannelType, "unknown channel type "+nc.ChannelType())
		}
	}
	return conn.Wait()
}

// pingMaster gives up on a master that does not answer for two intervals.
func (s *Slave) pingMaster(conn ssh.Conn, interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		answered := make(chan struct{})
		go func() {
			conn.SendRequest(wire.ReqPing, true, nil)
			close(answered)
		}()
		select {
		case <-answered:
		case <-done:
			return
		case <-time.After(2 * interval):
			s.log.Warn("master silent for two ping intervals; dropping the connection")
			conn.Close()
			return
		}
	}
}

// killAll ends the remote processes, and whatever they left on the node:
// their children, and orphans gone over to the node's PID 1 (a daemon a
// remote shell started and returned from). Remote processes lead sessions
// of their own (setsid), which their descendants keep: every process of a
// session a remote process started is bproc's to end.
//
// As the node's PID 1 (a netbooted node's /init, or a local node, PID 1 of
// a PID namespace of its own) bpslave is the parent of all there is, and
// every process but its own nodeview is a remote process or one of theirs,
// also one that made a session of its own with setsid: all of them end. A
// bpslave run by hand on a machine sees all of that machine's processes in
// /proc, and ends only the sessions it started.
func (s *Slave) killAll() {
	s.mu.Lock()
	for pid := range s.procs {
		s.reaper.Signal(pid, syscall.SIGKILL)
	}
	sessions := s.sessions
	s.sessions = make(map[int]bool)
	s.mu.Unlock()
	self := os.Getpid()
	var view int
	if s.view != nil {
		view = int(s.view.started.Load())
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == view {
			continue
		}
		// Kernel threads (a netbooted node's) ignore the signal.
		if self == 1 || sessions[sessionOf(pid)] {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// startedLocked records pid, a remote process just started here (under
// s.mu). Sessions no process is left in are dropped now and then, so that
// a node up for long keeps no more than its live ones and a few thousand.
func (s *Slave) startedLocked(pid int) {
	s.procs[pid] = &proc{pid: pid}
	s.sessions[pid] = true
	if len(s.sessions) < max(s.pruneAt, maxSessions) {
		return
	}
	live := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			live[sessionOf(p)] = true
		}
	}
	for sid := range s.sessions {
		if !live[sid] {
			delete(s.sessions, sid)
		}
	}
	// Many still live: the next look waits until there are twice as many,
	// so that starts do not each read all of /proc.
	s.pruneAt = 2 * len(s.sessions)
}

// maxSessions is when startedLocked looks for sessions that ended.
const maxSessions = 4096

// sessionOf is pid's session (/proc/PID/stat), -1 when it is gone.
func sessionOf(pid int) int {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return -1
	}
	return st.Session
}

// clipReason is a master's reason for a refusal, as a node logs it: one
// line, and not all of a master gone wrong.
func clipReason(b []byte) string {
	const max = 300
	if len(b) > max {
		b = b[:max]
	}
	return strings.ToValidUTF8(strings.ReplaceAll(string(b), "\n", " "), "?")
}
