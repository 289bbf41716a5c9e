package ghost

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The wire format; stub.c has its own copy of these numbers.
const (
	Magic     = "BPG1"
	Version   = 1
	HelloSize = 32 // magic, fdmask, token, version, reserved
	EventSize = 8  // type, arg: ghost to master
	CmdSize   = 8  // type, arg: master to ghost

	// EventSignal reports a signal the ghost received; arg is its number.
	EventSignal = 1
	// EventChildStopped reports that SIGSTOP stopped a child of the
	// ghost (a descendant's ghost), which cannot relay it; arg is its PID.
	EventChildStopped = 2

	// CmdExit makes the ghost exit with status arg.
	CmdExit = 1
	// CmdSignal makes the ghost die by signal arg (or exit 128+arg if
	// the signal's default action is to ignore it).
	CmdSignal = 2
	// CmdFork makes the ghost fork a descendant ghost, a child of its
	// own. A Token follows the command, but with ForkShort in its arg: a
	// ghost of before EventForked (one that came back from an older
	// master) makes a child that connects and says hello with it; a
	// ghost of today ignores it and answers EventForked.
	CmdFork = 3
	// ForkAsk in CmdFork's arg asks the ghost to say ForkedDrains if it
	// drains (older ghosts ignore the arg, and masters before it sent 0).
	ForkAsk = 1
	// ForkShort in CmdFork's arg: no token follows. Only for a ghost
	// that said ForkedDrains, and so reads the arg.
	ForkShort = 2
	// ForkedDrains in EventForked's arg, beside the PID (ParseForked):
	// the ghost and the child it made read what their socket holds
	// before they take a failed write for their master gone, so the
	// master may close their connection as soon as it has told them
	// how to die (no lingering: ghostWatch.linger).
	ForkedDrains = 1 << 31
	// EventForked answers a CmdFork: arg is the PID of the child ghost
	// (0: the ghost could not make one), and an SCM_RIGHTS message with
	// the event carries the master's end of a socket pair whose other
	// end the child keeps as its connection to the master. The child
	// says no hello: the master knows it from its parent.
	EventForked = 4
)

// maxFDs bounds the fds ReadHello accepts in one message; a ghost sends at
// most 3, and room for more lets it tell "too many" from "truncated".
const maxFDs = 16

// ErrBadHello is wrapped by every error about a malformed hello.
var ErrBadHello = errors.New("bad ghost hello")

// Token authenticates a ghost to the master: the master makes one per
// ghost, passes it to Start, and matches it in the ghost's hello.
type Token [16]byte

// NewToken returns a random token.
func NewToken() (Token, error) {
	var t Token
	if _, err := rand.Read(t[:]); err != nil {
		return Token{}, fmt.Errorf("ghost: new token: %w", err)
	}
	return t, nil
}

// String returns the token as 32 lowercase hex digits, the form the
// ghost reads from BPROC_GHOST_TOKEN.
func (t Token) String() string { return hex.EncodeToString(t[:]) }

// ParseToken parses 32 lowercase hex digits.
func ParseToken(s string) (Token, error) {
	var t Token
	if len(s) != 2*len(t) {
		return Token{}, fmt.Errorf("ghost: token %q: want %d hex digits, got %d", s, 2*len(t), len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Token{}, fmt.Errorf("ghost: token %q: %q is not a lowercase hex digit", s, c)
		}
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return Token{}, fmt.Errorf("ghost: token %q: %w", s, err)
	}
	return t, nil
}

// Hello is what a ghost said when it connected.
type Hello struct {
	Token Token
	// Files are the ghost's fds 0, 1 and 2; nil where the ghost had
	// that fd closed. The caller owns them.
	Files [3]*os.File
}

// Close closes the hello's files.
func (h *Hello) Close() {
	for i, f := range h.Files {
		if f != nil {
			f.Close()
			h.Files[i] = nil
		}
	}
}

// MarshalHello returns the hello a ghost with the given token and fdmask
// sends (for tests and fake ghosts; the real one is stub.c).
func MarshalHello(t Token, fdmask uint32) [HelloSize]byte {
	var b [HelloSize]byte
	copy(b[0:4], Magic)
	binary.LittleEndian.PutUint32(b[4:8], fdmask)
	copy(b[8:24], t[:])
	binary.LittleEndian.PutUint32(b[24:28], Version)
	binary.LittleEndian.PutUint32(b[28:32], 0)
	return b
}

// ParseHello checks a hello's bytes against the nfds fds that came with
// it and returns its token and fdmask. Every error wraps ErrBadHello.
func ParseHello(b []byte, nfds int) (Token, uint32, error) {
	if len(b) < HelloSize {
		return Token{}, 0, fmt.Errorf("%w: short read: %d of %d bytes", ErrBadHello, len(b), HelloSize)
	}
	if len(b) > HelloSize {
		return Token{}, 0, fmt.Errorf("%w: %d bytes, want %d", ErrBadHello, len(b), HelloSize)
	}
	if string(b[0:4]) != Magic {
		return Token{}, 0, fmt.Errorf("%w: magic %q, want %q", ErrBadHello, b[0:4], Magic)
	}
	if v := binary.LittleEndian.Uint32(b[24:28]); v != Version {
		return Token{}, 0, fmt.Errorf("%w: version %d, want %d", ErrBadHello, v, Version)
	}
	if r := binary.LittleEndian.Uint32(b[28:32]); r != 0 {
		return Token{}, 0, fmt.Errorf("%w: reserved field %#x, want 0", ErrBadHello, r)
	}
	mask := binary.LittleEndian.Uint32(b[4:8])
	if mask&^7 != 0 {
		return Token{}, 0, fmt.Errorf("%w: fdmask %#x names fds beyond 2", ErrBadHello, mask)
	}
	if want := bits.OnesCount32(mask); nfds != want {
		return Token{}, 0, fmt.Errorf("%w: fdmask %#x announces %d fds, got %d", ErrBadHello, mask, want, nfds)
	}
	var t Token
	copy(t[:], b[8:24])
	return t, mask, nil
}

// ReadHello reads the hello and the fds from a freshly accepted
// connection. Set a deadline on c first: a ghost that never speaks
// would block it forever. On error no fd is left open.
func ReadHello(c *net.UnixConn) (Hello, error) {
	var (
		b   [HelloSize]byte
		oob = make([]byte, unix.CmsgSpace(maxFDs*4))
		fds []int
		n   int
		err error
	)
	// A stream socket may split the hello; fds ride on whichever part
	// the sender attached them to, so collect them from every part.
	for n < HelloSize && err == nil {
		m, oobn, flags, _, rerr := c.ReadMsgUnix(b[n:], oob)
		n += m
		if oobn > 0 {
			var got []int
			got, err = parseRights(oob[:oobn])
			fds = append(fds, got...)
		}
		switch {
		case err != nil:
		case flags&unix.MSG_CTRUNC != 0:
			err = fmt.Errorf("%w: more than %d fds", ErrBadHello, maxFDs)
		case errors.Is(rerr, io.EOF) || rerr == nil && m == 0 && oobn == 0:
			err = fmt.Errorf("%w: short read: %d of %d bytes", ErrBadHello, n, HelloSize)
		case rerr != nil:
			err = fmt.Errorf("ghost hello: read: %w", rerr)
		}
	}
	var mask uint32
	var h Hello
	if err == nil {
		h.Token, mask, err = ParseHello(b[:], len(fds))
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Hello{}, err
	}
	names := [3]string{"ghost-stdin", "ghost-stdout", "ghost-stderr"}
	for i := range h.Files {
		if mask&(1<<i) != 0 {
			h.Files[i] = os.NewFile(uintptr(fds[0]), names[i])
			fds = fds[1:]
		}
	}
	return h, nil
}

// parseRights returns the fds of every SCM_RIGHTS message in oob. Other
// control messages (SCM_CREDENTIALS, if the listener asked) are skipped.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %w", ErrBadHello, err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("%w: SCM_RIGHTS: %w", ErrBadHello, err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// ReadEvent reads one event from a ghost. It returns io.EOF if the
// ghost closed the connection between events (it died: wait for it) and
// io.ErrUnexpectedEOF if it did so in the middle of one.
func ReadEvent(r io.Reader) (typ, arg uint32, err error) {
	var b [EventSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, 0, err
	}
	return binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint32(b[4:8]), nil
}

// WriteExit tells the ghost to exit with code (0-255).
func WriteExit(w io.Writer, code int) error {
	if code < 0 || code > 255 {
		return fmt.Errorf("ghost: exit code %d out of range 0-255", code)
	}
	return writeCmd(w, CmdExit, uint32(code))
}

// WriteSignal tells the ghost to die by sig.
func WriteSignal(w io.Writer, sig syscall.Signal) error {
	if sig < 1 || sig > 64 {
		return fmt.Errorf("ghost: signal %d out of range 1-64", int(sig))
	}
	return writeCmd(w, CmdSignal, uint32(sig))
}

// WriteFork tells the ghost to fork a child ghost, the ghost of a process
// its remote process forked: it answers EventForked (an older ghost's
// child says hello with t instead). short leaves the token out, for a
// ghost that said ForkedDrains: it reads the command in one read.
func WriteFork(w io.Writer, t Token, short bool) error {
	if short {
		return writeCmd(w, CmdFork, ForkAsk|ForkShort)
	}
	var b [CmdSize + len(Token{})]byte
	binary.LittleEndian.PutUint32(b[0:4], CmdFork)
	binary.LittleEndian.PutUint32(b[4:8], ForkAsk)
	copy(b[CmdSize:], t[:])
	_, err := w.Write(b[:])
	return err
}

// ParseForked splits EventForked's arg: the child ghost's PID (0: none),
// and whether the ghost said ForkedDrains.
func ParseForked(arg uint32) (pid int, drains bool) {
	return int(arg &^ ForkedDrains), arg&ForkedDrains != 0
}

func writeCmd(w io.Writer, typ, arg uint32) error {
	var b [CmdSize]byte
	binary.LittleEndian.PutUint32(b[0:4], typ)
	binary.LittleEndian.PutUint32(b[4:8], arg)
	_, err := w.Write(b[:])
	return err
}
