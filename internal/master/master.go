// Package master is bpmaster: it keeps the node table, accepts the nodes'
// SSH connections, serves tools and ghosts on the local unix socket, and
// moves every byte and signal between a ghost and its remote process.
//
// Its files are grouped by concern, by the prefix of their names: api*
// (the local API: frames, callers, limits), nodes* (the node table:
// connections, credentials, states, permissions, setup, reload), procs*
// (remote processes: jobs, ghosts, the relay), move* (remote fork and
// move), files* (the file service, peer copies, libraries, the push),
// metrics* and events* (/metrics, the event stream of bpstat --events).
package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/keys"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/loglimit"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/vmadump"
)

// Config is everything bpmaster is started with.
type Config struct {
	Socket     string // unix socket for tools and ghosts
	Listen     string // TCP address for nodes
	StateDir   string // keys (and later node state)
	LocalNodes int    // namespace nodes to start on this machine
	Diskless   bool   // local nodes without the master's files
	PushOnly   bool   // diskless local nodes without the view (pushed programs only)
	CacheSize  int64  // limit of a local node's copies of the master's files
	// OnReload, if set, is called with each configuration the master
	// takes on after it started (SIGHUP, bpctl --add-node).
	OnReload func(*config.Config)
	Nodes    int    // size of the node table (at least LocalNodes)
	Binary   string // the bproc binary local nodes run
	// PingInterval is how often nodes are pinged; a node silent for two
	// intervals is down: BProc's pingtimeout is two intervals (30 s).
	PingInterval time.Duration
	// NodeGrace is how long a node that lost this master keeps its
	// processes, and how long the master keeps their ghosts waiting for
	// it to come back (wire.HelloReply.Grace; 0: they end at once).
	NodeGrace time.Duration
	// NodeUpDir holds the scripts that set a node up between boot and up
	// (BProc's node_up); a missing directory means none. Empty: the
	// running config file's nodeupdir, so that a SIGHUP changes it.
	NodeUpDir string
	// File is the parsed configuration file (config.Default() when there
	// is none), read again from FilePath on Reload. Its node table and
	// nodes 0 to Nodes-1 are the nodes that exist.
	File     *config.Config
	FilePath string
	Log      *slog.Logger
	// Tokens are the boot tokens nodes show at their first connection;
	// the boot service mints them into the scripts it serves. nil: a
	// store of the master's own (local nodes, bpctl --node-token).
	Tokens *nodeauth.Tokens
	// Metrics is where /metrics is served (metrics_http.go); "" for
	// nowhere.
	Metrics string
}

// Master is a running bpmaster.
type Master struct {
	cfg  Config
	log  *slog.Logger
	keys *keys.Set
	// peers: which nodes have which of the master's files, so nodes fetch
	// large ones from each other.
	peers peers
	// hashes: the sums of the master's files that nodes were told of,
	// each file hashed once per change.
	hashes contentcache.Hashes
	// views: the watches of what nodes' views were served, to tell them
	// of changes (files_watch.go).
	views  viewWatch
	ssh    *ssh.ServerConfig
	tokens *nodeauth.Tokens
	// cpuFlags are this machine's CPU features: a process started here
	// moves only to nodes that have what its C library chose.
	cpuFlags []string

	// ghosts and reqs call a process's handlers when its ghost or its
	// node has something to say.
	ghosts *ghostWatch
	reqs   reqWatch

	// budget bounds each user's requests being read; conns each user's
	// connections; warns the warnings of bad input, per reason and user.
	// watchLimit bounds a watch (the package's watchLimit; a test's own).
	watchLimit time.Duration

	// nodeRuns: the ghosts started for processes on nodes (api_noderun.go).
	nodeRuns nodeRuns

	budget *localapi.Budget
	conns  *conns
	warns  *loglimit.Limiter

	// routines are the goroutines serving connections, which Run waits
	// for before it returns.
	routines *routines
	// obs counts for the metrics and streams the events (metrics.go,
	// events.go).
	obs observer
	// addNodeMu serializes the edits of the configuration file (bpctl
	// --add-node): each appends after the last node line the other left.
	addNodeMu sync.Mutex

	// Ready is closed once both listeners are up (tests and --local-nodes wait on it).
	Ready chan struct{}
	// localEnding: the master stops its namespace nodes (endLocalGhosts).
	localEnding atomic.Bool
	// lost: ghosts ended with "Slave node died" that no client heard of
	// (procs_lost.go).
	lost lostGhosts

	mu         sync.Mutex // guards the fields below
	nodes      map[int]*node
	pending    map[ghost.Token]*rank // ranks whose ghost has not connected yet
	procs      map[int]*proc         // remote processes by ghost PID
	procsPeak  int                   // the most procs held (shrunk)
	nodeAddr   string                // where nodes dial (after Listen resolved port 0)
	nodeChange chan struct{}         // closed and replaced on every node state change
	local      map[int]*localNode    // supervisors of --local-nodes, once started
	// pins are the keys nodes made for their current boot, by node
	// (kept in the state directory, see pins.go).
	pins map[int]ssh.PublicKey
	// away are processes whose ghost came back and whose node came back
	// without them, waiting for a node not back yet that they may have
	// moved to (procs_restart_move.go).
	away map[int]*proc
}

// New checks the configuration and loads (or creates) the keys.
func New(cfg Config) (*Master, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Nodes < cfg.LocalNodes {
		cfg.Nodes = cfg.LocalNodes
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 15 * time.Second
	}
	raiseFileLimit(cfg.Log)
	flags, _ := vmadump.ReadCPUFlags()
	ks, err := keys.LoadOrCreate(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	settings, err := loadSaved(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	pins, err := loadPins(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.Tokens == nil {
		cfg.Tokens = nodeauth.NewTokens()
	}
	ghosts, err := newGhostWatch()
	if err != nil {
		return nil, err
	}
	m := &Master{
		cfg: cfg, log: cfg.Log, keys: ks, cpuFlags: flags, ghosts: ghosts, tokens: cfg.Tokens, pins: pins,
		Ready:      make(chan struct{}),
		nodes:      make(map[int]*node),
		pending:    make(map[ghost.Token]*rank),
		procs:      make(map[int]*proc),
		nodeChange: make(chan struct{}),
		watchLimit: watchLimit,
		budget:     localapi.NewBudget(localapi.DefaultBudget),
		warns:      loglimit.New(loglimit.DefaultEvery, loglimit.DefaultBurst),
		routines:   newRoutines(),
	}
	if cfg.File == nil {
		cfg.File = config.Default()
		m.cfg.File = cfg.File
	}
	m.conns = newConns(cfg.File.MaxConns)
	for num, addrs := range cfg.nodeTable(cfg.File) {
		n := newNode(num, num < cfg.LocalNodes, settings[num])
		n.allowed = addrs
		m.nodes[num] = n
	}
	m.ssh = m.sshConfig()
	return m, nil
}

// Run serves until ctx is cancelled, then stops the local nodes, closes
// every connection, and removes the socket. It returns once every
// goroutine it started for the connections has ended.
func (m *Master) Run(ctx context.Context) error {
	tcp, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for nodes on %s: %w", m.cfg.Listen, err)
	}
	defer tcp.Close()
	unixL, err := listenSocket(m.cfg.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(m.cfg.Socket)
	defer unixL.Close()

	if m.cfg.Metrics != "" {
		stop, err := m.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}

	m.mu.Lock()
	m.nodeAddr = dialable(tcp.Addr().(*net.TCPAddr))
	m.mu.Unlock()
	for _, note := range m.cfg.File.Notes {
		m.log.Info(note)
	}
	m.log.Info("bpmaster listening", "nodes", tcp.Addr().String(), "socket", m.cfg.Socket, "state_dir", m.cfg.StateDir)

	m.routines.Go(func() {
		if err := m.ghosts.run(); err != nil {
			m.log.Error("ghost watch", "err", err)
		}
	})
	m.views.start(m.log)
	m.routines.Go(func() { m.acceptNodes(ctx, tcp) })
	m.routines.Go(func() { m.acceptLocal(ctx, unixL) })
	close(m.Ready)

	local := m.startLocalNodes(ctx)
	<-ctx.Done()
	m.log.Info("bpmaster stopping")
	tcp.Close()
	unixL.Close()
	local.stop()
	m.dropAllNodes()
	m.routines.stop()
	m.ghosts.close()
	m.routines.wait()
	m.views.close()
	return nil
}

// listenSocket opens the unix socket for every local user: who may do what
// is decided per request from the peer's credentials.
func listenSocket(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	// A socket file left by a master that died is in the way; a live master's
	// is not ours to take.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s: another bpmaster is serving it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// dialable turns the listening address into one a local node can dial: an
// unspecified address (":2223") becomes loopback.
func dialable(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}
