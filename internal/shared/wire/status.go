package wire

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitStatus is how a process ended: by exiting with Code, or killed by
// Signal (Core: it dumped core). It crosses the wire as 8 bytes so that no
// status is ever rounded or lost.
type ExitStatus struct {
	Code   int
	Signal syscall.Signal
	Core   bool
}

// FromWait converts what wait4 returned.
func FromWait(ws unix.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Signal: syscall.Signal(ws.Signal()), Core: ws.CoreDump()}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// Shell is the status as a shell's $? shows it: the code, or 128+signal.
func (s ExitStatus) Shell() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

func (s ExitStatus) String() string {
	if s.Signal != 0 {
		core := ""
		if s.Core {
			core = " (core dumped)"
		}
		return fmt.Sprintf("killed by %s%s", SignalName(s.Signal), core)
	}
	return fmt.Sprintf("exit %d", s.Code)
}

// Marshal encodes the status: kind (0 exit, 1 signal, 2 signal with core),
// 3 zero bytes, then the value as a uint32, big endian.
func (s ExitStatus) Marshal() []byte {
	b := make([]byte, 8)
	v := uint32(s.Code)
	if s.Signal != 0 {
		b[0] = 1
		if s.Core {
			b[0] = 2
		}
		v = uint32(s.Signal)
	}
	binary.BigEndian.PutUint32(b[4:], v)
	return b
}

// UnmarshalExitStatus decodes Marshal's output.
func UnmarshalExitStatus(b []byte) (ExitStatus, error) {
	if len(b) != 8 || b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return ExitStatus{}, fmt.Errorf("exit status: want 8 bytes, got %d (% x)", len(b), b)
	}
	v := binary.BigEndian.Uint32(b[4:])
	switch b[0] {
	case 0:
		if v > 255 {
			return ExitStatus{}, fmt.Errorf("exit status: code %d out of range", v)
		}
		return ExitStatus{Code: int(v)}, nil
	case 1, 2:
		if v == 0 || v > 64 {
			return ExitStatus{}, fmt.Errorf("exit status: signal %d out of range", v)
		}
		return ExitStatus{Signal: syscall.Signal(v), Core: b[0] == 2}, nil
	}
	return ExitStatus{}, fmt.Errorf("exit status: unknown kind %d", b[0])
}

// Signal payloads are the signal number as 4 bytes, big endian.
func MarshalSignal(sig syscall.Signal) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(sig))
}

// UnmarshalSignal decodes MarshalSignal's output.
func UnmarshalSignal(b []byte) (syscall.Signal, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("signal: want 4 bytes, got %d", len(b))
	}
	v := binary.BigEndian.Uint32(b)
	if v == 0 || v > 64 {
		return 0, fmt.Errorf("signal: number %d out of range", v)
	}
	return syscall.Signal(v), nil
}

// SignalName is "SIGSEGV" for SIGSEGV, "SIGRTMIN+3" for real-time signals.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	if sig >= 34 && sig <= 64 {
		return fmt.Sprintf("SIGRTMIN+%d", int(sig)-34)
	}
	return fmt.Sprintf("signal %d", int(sig))
}
