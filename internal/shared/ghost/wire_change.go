package ghost

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Commands that make a ghost show what its remote process became; stub.c
// has its own copy of these numbers.
const (
	// CmdExec makes the ghost exec itself again with a new argv (its
	// process exec'd), keeping its PID, connection, children, process
	// group and signals; arg is the length of the argv that follows, each
	// argument ended by a NUL (see ExecArgv).
	CmdExec = 4
	// CmdSetpgid makes the ghost join process group arg (its own PID:
	// a new group), as setpgid(0, arg).
	CmdSetpgid = 5
	// CmdSetsid makes the ghost the leader of a new session.
	CmdSetsid = 6

	// MaxExecArgv and MaxExecArgs bound what CmdExec carries: bytes,
	// NULs included, and arguments. /proc's cmdline has no bound, but ps
	// shows a line.
	MaxExecArgv = 4096
	MaxExecArgs = 256
)

// ExecArgv is argv as CmdExec carries it and the ghost's
// /proc/PID/cmdline then reads: each argument ended by a NUL, as many
// whole arguments as fit the bounds (the first cut if it alone does not),
// nil for an empty argv.
func ExecArgv(argv []string) []byte {
	var b []byte
	for i, a := range argv {
		if i == MaxExecArgs {
			break
		}
		a, _, _ = strings.Cut(a, "\x00") // a C string ends there anyway
		if len(b)+len(a)+1 > MaxExecArgv {
			if i == 0 {
				b = append(b, a[:MaxExecArgv-1]...)
				b = append(b, 0)
			}
			break
		}
		b = append(b, a...)
		b = append(b, 0)
	}
	return b
}

// WriteExec tells the ghost to show argv (ExecArgv's cut).
func WriteExec(w io.Writer, argv []string) error {
	a := ExecArgv(argv)
	if len(a) == 0 {
		return fmt.Errorf("ghost: exec: empty argv")
	}
	b := make([]byte, CmdSize+len(a))
	binary.LittleEndian.PutUint32(b[0:4], CmdExec)
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(a)))
	copy(b[CmdSize:], a)
	_, err := w.Write(b) // one write: commands from other goroutines go between, not inside
	return err
}

// WriteSetpgid tells the ghost to join process group pgid.
func WriteSetpgid(w io.Writer, pgid int) error {
	if pgid <= 0 {
		return fmt.Errorf("ghost: setpgid: process group %d", pgid)
	}
	return writeCmd(w, CmdSetpgid, uint32(pgid))
}

// WriteSetsid tells the ghost to make a session of its own.
func WriteSetsid(w io.Writer) error { return writeCmd(w, CmdSetsid, 0) }
