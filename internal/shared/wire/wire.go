// Package wire defines what the master and a node say to each other over
// their SSH connection. The node dials the master (as in BProc) and
// authenticates with the node key; the master then opens one channel per
// remote process on the node. On a process channel, stdin and stdout are
// channel data, stderr is extended data 1, and requests carry signals,
// window changes, the PID the process got, and its exit status.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultPort is the TCP port nodes dial the master on unless the config
// says otherwise (BProc's bprocport).
const DefaultPort = 2223

// Channel and request names.
const (
	// ChanFiles is opened by a node: an sftp session of the master's files,
	// read-only, as one user (payload FilesRequest).
	ChanFiles = "bproc-files"
	// ChanProc is opened by the master: start one process (payload ProcStart).
	// The node rejects it with the reason when the process cannot start.
	ChanProc = "bproc-proc"

	// ReqStarted (node -> master, on a process channel): the process runs;
	// payload Started.
	ReqStarted = "bproc-started"
	// ReqExit (node -> master): the process ended; payload an ExitStatus
	// encoding, sent after all of its output.
	ReqExit = "bproc-exit"
	// ReqWarning (node -> master): a line for the user that is not the
	// process's own output, e.g. that its cwd does not exist on the node.
	ReqWarning = "bproc-warning"
	// ReqMoveFailed (node -> master, on a move's channel): the process
	// could not be rebuilt; the payload says why.
	ReqMoveFailed = "bproc-move-failed"
	// ReqSignal (master -> node): deliver a signal; payload one byte count
	// and the number as decimal text, see Signal.
	ReqSignal = "bproc-signal"
	// ReqWindow (master -> node): the terminal's size changed; payload Window.
	ReqWindow = "bproc-window"

	// ReqPing (either way, global): liveness; the answer is the reply.
	ReqPing = "bproc-ping"
	// ReqHello (node -> master, global, once after connecting): NodeHello;
	// the reply carries a HelloReply.
	ReqHello = "bproc-hello"
	// ReqStats (master -> node, global): the reply carries NodeStats. The
	// master asks with every ping, so it doubles as one.
	ReqStats = "bproc-stats"
	// ReqAction (master -> node, global): reboot, halt or pwroff; payload
	// the action's name.
	ReqAction = "bproc-action"
)

// BuiltinFileServer is the sftp server bpcp talks to on a node: the node's
// own bproc binary as "bpcp --server", running as the caller.
const BuiltinFileServer = "file-server"

// The actions of ReqAction, as BProc named them.
const (
	ActionReboot = "reboot"
	ActionHalt   = "halt"
	ActionPwroff = "pwroff"
)

// User is the SSH user name a node logs in with: it says which node it is.
func User(node int) string { return "node" + strconv.Itoa(node) }

// FilesUser is the user name of a node's second connection, which only
// fetches the master's files (the node's view of them runs in a process of
// its own, so that it never waits on bpslave).
func FilesUser(node int) string { return User(node) + filesSuffix }

const filesSuffix = "+files"

// ParseUser is the inverse of User and FilesUser.
func ParseUser(user string) (node int, files bool, err error) {
	s, ok := strings.CutPrefix(user, "node")
	if !ok {
		return 0, false, fmt.Errorf("user %q: want node<N>", user)
	}
	s, files = strings.CutSuffix(s, filesSuffix)
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return 0, false, fmt.Errorf("user %q: bad node number", user)
	}
	return n, files, nil
}

// TTY asks for a pseudo-terminal on the node.
type TTY struct {
	Term string `json:"term,omitempty"`
	Window
	Modes []byte `json:"modes,omitempty"` // reserved
}

// Window is a terminal size.
type Window struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// DefaultMaxProcs is the processes of one user a node runs at once when
// the master does not say (ProcStart.MaxProcs): more than an honest job
// starts on one node (bench/ starts 500).
const DefaultMaxProcs = 4096

// ProcStart is the payload of a ChanProc open: everything the node needs to
// start the process exactly as the caller would locally.
type ProcStart struct {
	PID  int `json:"pid"` // wanted PID (the ghost's); 0 = any
	Node int `json:"node"`
	Rank int `json:"rank"`
	// Command is what the caller asked to run, as it asked (the master
	// adds BPROC_RANK and BPROC_NODE to Env, and /dev/null for outputs
	// nobody reads).
	Command
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups"`

	// Push is what a diskless node must have before it can start the
	// program: the executable, its #! interpreters, its ELF interpreter
	// and libraries, and the directories and links on their paths, as the
	// master saw them (with the caller's credentials). The node fetches
	// what it lacks or has in another version.
	Push []PushFile `json:"push,omitempty"`
	// PushSetID keeps the setuid and setgid bits of pushed files (the
	// config's pushsetid); without it the node drops them.
	PushSetID bool `json:"push_setid,omitempty"`
	// MaxProcs is how many processes of the space one user may have on
	// the node (the config's maxprocs); 0 is DefaultMaxProcs.
	MaxProcs int `json:"max_procs,omitempty"`

	// Move: the process is not started from Path but rebuilt from a
	// vmadump image (a process moved here by bproc_rfork or bproc_move),
	// which the master sends first on the channel, before stdin.
	Move *Move `json:"move,omitempty"`
}

// Move says how a moved process arrives.
type Move struct {
	ImageSize int64 `json:"image_size"` // bytes of image before stdin
	// ImageFile, when set, is where the image is instead: a file of the
	// master's, which the node reads through its view as the process's
	// user, and the channel carries none of it. Nodes that rebuild the
	// same image (bproc_vrfork) fetch it from each other then, down the
	// tree of the view's peers, rather than each from the master.
	ImageFile string `json:"image_file,omitempty"`
	// Return is what the system call the process was stopped in returns
	// to it on the node: how it knows it is the moved copy.
	Return uint64 `json:"return"`
}

// maxImage bounds a moved process's image.
const maxImage = 64 << 30

// PushFile is one entry of ProcStart.Push.
type PushFile struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"` // "file", "dir" or "link"
	Target string `json:"target,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Mode   uint32 `json:"mode"`            // permission bits
	MTime  int64  `json:"mtime,omitempty"` // nanoseconds
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	// Sum is the SHA-256 of a file's content, in hex, as the master read
	// it with the caller's credentials: the version. A node that has a
	// copy of that content fetches nothing (package contentcache).
	Sum string `json:"sum,omitempty"`
}

// Validate rejects a ProcStart that no node should try to run.
func (p *ProcStart) Validate() error {
	switch {
	case p.PID < 0:
		return fmt.Errorf("proc start: negative pid %d", p.PID)
	case p.MaxProcs < 0:
		return fmt.Errorf("proc start: negative max procs %d", p.MaxProcs)
	case p.Move != nil && (p.Move.ImageSize <= 0 || p.Move.ImageSize > maxImage):
		return fmt.Errorf("proc start: move image of %d bytes", p.Move.ImageSize)
	case p.Move != nil && p.Move.ImageFile != "" && (!strings.HasPrefix(p.Move.ImageFile, "/") || path.Clean(p.Move.ImageFile) != p.Move.ImageFile):
		return fmt.Errorf("proc start: image file %q is not a clean absolute path", p.Move.ImageFile)
	case p.Move != nil && p.Builtin != "":
		return fmt.Errorf("proc start: a move runs no program")
	}
	if err := p.Command.Validate(); err != nil {
		return fmt.Errorf("proc start: %w", err)
	}
	for _, f := range p.Push {
		if err := f.validate(); err != nil {
			return fmt.Errorf("proc start: push %q: %w", f.Path, err)
		}
	}
	return nil
}

// validate rejects an entry a node must not write: a relative path, one
// that climbs with "..", one into the kernel's file systems, over the
// node's own program or into its daemon's state (/run/bproc).
func (f *PushFile) validate() error {
	switch {
	case !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path || f.Path == "/":
		return errors.New("not a clean absolute path")
	case strings.IndexByte(f.Path+f.Target, 0) >= 0:
		return errors.New("NUL byte")
	case f.Kind != "file" && f.Kind != "dir" && f.Kind != "link":
		return fmt.Errorf("unknown kind %q", f.Kind)
	case f.Kind == "link" && f.Target == "":
		return errors.New("link without a target")
	case f.Size < 0:
		return errors.New("negative size")
	case f.Mode&^0o7777 != 0:
		return fmt.Errorf("mode %#o has bits other than permissions", f.Mode)
	case f.Kind == "file" && !validSum(f.Sum):
		return errors.New("file without a valid sum")
	}
	// The node's shared memory is a tmpfs of its own that users write
	// to, like /tmp: a program may be there (and /dev, which holds it,
	// is named as a directory of its path, which is left as it is).
	if under(f.Path, "/dev/shm") || f.Path == "/dev" && f.Kind == "dir" {
		return nil
	}
	for _, own := range []string{"/proc", "/sys", "/dev", "/init", "/run/bproc"} {
		if under(f.Path, own) {
			return fmt.Errorf("%s is the node's own", own)
		}
	}
	return nil
}

// Started is the payload of ReqStarted.
type Started struct {
	PID int `json:"pid"` // the PID the process has on the node
}

// NodeHello is what a node tells the master about itself.
type NodeHello struct {
	Version string `json:"version"`
	// Protocol is the newest protocol version the node speaks (0: 1,
	// a node from before versions).
	Protocol int    `json:"protocol,omitempty"`
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	Local    bool   `json:"local"` // a namespace node on the master's machine
	// Diskless: the node's root holds none of the master's files, so
	// programs are pushed to it (ProcStart.Push).
	Diskless bool `json:"diskless,omitempty"`
	// View: a diskless node that shows its processes the master's files
	// (a FUSE view): nothing needs to be pushed.
	View  bool      `json:"view,omitempty"`
	Stats NodeStats `json:"stats"`
	// CPUFlags are the node's CPU features (/proc/cpuinfo): a process
	// moves only to a CPU that has what its C library chose code for.
	CPUFlags []string `json:"cpu_flags,omitempty"`
	// Kept are the ghost PIDs of the processes the node kept through a
	// lost connection (protocol 2), waiting for a ChanResume.
	Kept []int `json:"kept,omitempty"`
	// KeptUIDs are the users of Kept's processes, in its order: a master
	// that restarted takes a process back only for a ghost of its user.
	KeptUIDs []uint32 `json:"kept_uids,omitempty"`
}

// FilesRequest says whose files a node wants: the master serves them as
// that user, who must have a process on the node.
type FilesRequest struct {
	UID uint32 `json:"uid"`
	// Sums asks for the content's sum in the answer to every stat of a
	// regular file the user may read (the sftp extended attribute
	// contentcache.StatExtension): what a node's cache is keyed by.
	Sums bool `json:"sums,omitempty"`
}

// validSum reports whether s is a SHA-256 sum as the master writes it: 64
// lower-case hex digits.
func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// HelloReply is the master's answer to a NodeHello.
type HelloReply struct {
	// PingInterval is how often the node pings the master; a master silent
	// for two intervals (BProc's pingtimeout) is given up.
	PingInterval time.Duration `json:"ping_interval"`
	// Protocol is the version the master chose to speak with the node
	// (0: 1, a master from before versions).
	Protocol int `json:"protocol,omitempty"`
	// Grace is how long the node keeps its processes when it loses the
	// master (protocol 2; 0: it ends them at once, as protocol 1).
	Grace time.Duration `json:"grace,omitempty"`
	// Resume are those of NodeHello.Kept the master takes back, each
	// with a ChanResume; the node ends the others.
	Resume []int `json:"resume,omitempty"`
}

// NodeStats is what bpstat -l shows of a node beyond its state (what
// Scyld's beostat gave).
type NodeStats struct {
	Load     [3]float64 `json:"load"`      // 1, 5 and 15 minute load averages
	MemTotal uint64     `json:"mem_total"` // bytes
	MemUsed  uint64     `json:"mem_used"`  // bytes: total less available
	Uptime   float64    `json:"uptime"`    // seconds since the node booted
	CPUs     int        `json:"cpus"`
}

// Encode marshals a payload as JSON.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wire: encode %T: %v", v, err)) // only our own types get here
	}
	return b
}

// Decode unmarshals a payload, naming the message on error.
func Decode(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: bad payload: %w", what, err)
	}
	return nil
}

// Why a node rejects a process channel, as the SSH rejection reason, so the
// ghost can exit the way a shell would have: 127 for a command that is not
// there, 126 for one that cannot be executed, 255 for anything else.
const (
	RejectNotFound      = ssh.ConnectionFailed
	RejectNotExecutable = ssh.Prohibited
	RejectOther         = ssh.ResourceShortage
)

// RejectCode is the exit code a rejection stands for.
func RejectCode(r ssh.RejectionReason) int {
	switch r {
	case RejectNotFound:
		return 127
	case RejectNotExecutable:
		return 126
	}
	return 255
}
