//go:build !(linux && amd64)

package vmadump

import (
	"errors"
	"time"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// Moving a process reads and writes its registers, FPU state and vDSO,
// which is machine code and register layouts of one architecture: only
// linux/amd64 has them so far. Elsewhere the package builds, images
// still decode (a master of one architecture may relay them), and every
// call that would stop or rebuild a process refuses, touching nothing.

// Ported says whether processes can be moved from and to this platform.
const Ported = false

// ErrThreads is returned for a process with more than one thread (on
// linux/amd64).
var ErrThreads = errors.New("vmadump: the process has more than one thread")

// Stopped is a process Dump read; none is ever returned here.
type Stopped struct{}

// Resume does nothing: no process was stopped.
func (s *Stopped) Resume() error { return nil }

// StopTimers does nothing: no process was stopped.
func (s *Stopped) StopTimers() error { return nil }

// Kill does nothing: no process was stopped.
func (s *Stopped) Kill() error { return nil }

// Dump returns ErrNotPorted; the process is not stopped.
func Dump(pid int) (*Image, *Stopped, error) { return nil, nil, ErrNotPorted }

// DumpWhenIn returns ErrNotPorted at once; the process is not stopped.
func DumpWhenIn(pid int, nr uint64, timeout time.Duration, hold func(func() error) error) (*Image, *Stopped, error) {
	return nil, nil, ErrNotPorted
}

// Attr says how to start the rebuilt process; see restore_linux_amd64.go.
type Attr struct {
	Stub      string
	PID       int
	Uid, Gid  uint32
	Groups    []uint32
	Files     []int
	Setsid    bool
	Root      string
	Dir       string
	Return    *uint64
	BeforeRun func() error
	Start     func(a spawn.Attr, rebuild func(pid int) error) (pid int, err error)
	CopyVDSO  bool
}

// Restore returns ErrNotPorted; nothing is started.
func Restore(img *Image, a Attr) (pid int, err error) { return 0, ErrNotPorted }

// RestoreInto returns ErrNotPorted; pid is not touched.
func RestoreInto(img *Image, pid int, a Attr) (changed bool, err error) { return false, ErrNotPorted }
