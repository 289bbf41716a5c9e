package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/bproc/bproc/internal/shared/wire"
)

// DefaultPath is where bpmaster looks when --config is not given.
const DefaultPath = "/etc/bproc/config"

// Defaults of BProc and of bproc.
const (
	DefaultPingTimeout = 30 * time.Second
	DefaultStateDir    = "/var/lib/bproc"
	DefaultNodeUpDir   = "/etc/bproc/node_up.d"
)

// MaxMaxProcs bounds maxprocs: the kernel's pid_max limit.
const MaxMaxProcs = 4194304

// MinTmpSize is the smallest tmpsize: smaller is a typo.
const MinTmpSize = 1 << 20

// MaxNode is the highest node number a config may name. BProc kept an
// array indexed by node number; here it bounds what one iprange line can
// ask for, so "iprange 10.0.0.0 10.255.255.255" is an error, not 16
// million nodes.
const MaxNode = 65535

// maxFileSize bounds what Load reads: a config is a few kilobytes, and a
// path that names something huge is a mistake, not a config.
const maxFileSize = 16 << 20

// Config is a parsed configuration file. The zero value is not useful;
// start from Default, Load or Parse. Nothing changes a Config after
// Parse, so one may be read from many goroutines; SIGHUP makes a new one.
type Config struct {
	File string // where it was read from; "" for Default

	Interfaces  []Interface
	Port        int           // bprocport
	PingTimeout time.Duration // pingtimeout
	// NodeGrace is how long a node that lost the master keeps its
	// processes (nodegrace; 0: it ends them at once, as BProc did).
	NodeGrace time.Duration
	// Masters are "host:port", from master lines in order, the port
	// defaulting to Port: where nodes are to find the master. Names are
	// not resolved.
	Masters   []string
	Libraries []string // glob patterns, absolute

	// BootFile is what nodes without a bootfile line of their own boot;
	// "" means the image the master builds. Node.BootFile is per node.
	BootFile      string
	Kernel        string // "" leaves the choice to netboot
	KernelCmdline string
	ModulesDir    string   // "" means /lib/modules/VERSION of Kernel
	Modules       []string // module names, as given
	CacheSize     int64    // bytes; 0 means no limit
	PushSetID     bool     // pushsetid: pushed files keep setuid and setgid
	MaxProcs      int      // maxprocs: processes of one user on one node; 0: the nodes' default (4096)
	TmpSize       int64    // tmpsize: bytes of each node tmpfs; 0: the default
	StateDir      string
	NodeUpDir     string
	MaxConns      int // maxconns: a user's connections to the local socket; 0: the master's default

	// Notes say which lines were accepted and ignored, as
	// "FILE:LINE: keyword: ignored: why", for the master to log.
	Notes []string

	// Metrics (metrics ADDR) is where /metrics is served; "": nowhere.
	Metrics string

	nodes table
}

// Interface is an interface line.
type Interface struct {
	Name string
	// Addr is the master's address and the network's prefix length, as
	// given; invalid (IsValid false) when the line names only the
	// interface and the address is to be read from it.
	Addr netip.Prefix
}

// ErrInvalid is wrapped by every error about the contents of a file.
var ErrInvalid = errors.New("invalid config")

// Error is one bad line.
type Error struct {
	File string
	Line int
	Msg  string // "keyword: what is wrong", one line
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Unwrap lets callers tell a bad file (errors.Is ErrInvalid) from one
// that could not be read.
func (e *Error) Unwrap() error { return ErrInvalid }

// Default is the configuration without a file: BProc's port and ping
// timeout, bproc's directories, no nodes.
func Default() *Config {
	return &Config{
		Port:        wire.DefaultPort,
		PingTimeout: DefaultPingTimeout,
		NodeGrace:   wire.DefaultGrace,
		StateDir:    DefaultStateDir,
		NodeUpDir:   DefaultNodeUpDir,
	}
}

// Load reads and parses the file at path. A missing file is an error when
// mustExist is set (the administrator named it) and gives Default
// otherwise (bpmaster looking at DefaultPath on a machine without one).
func Load(path string, mustExist bool) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config: %s: larger than %d MiB", path, maxFileSize>>20)
	}
	return Parse(path, data)
}

// LoadAgain reads the file at path for a reload (SIGHUP) of running. A
// running configuration that was read from a file keeps needing one: a
// file gone missing (removed, an editor's rename) is an error, so the
// caller keeps running, and not the empty Default with no nodes at all.
// Only a configuration without a file (none at the default path) may find
// none again.
func LoadAgain(path string, running *Config) (*Config, error) {
	return Load(path, running == nil || running.File != "")
}
