// Package asuser runs file operations with a user's credentials, so that
// the kernel, not a root daemon, decides what that user may open: a node
// opening bpsh -O files, the master serving a node the files of a user's
// program.
//
// Credentials are per thread in Linux. The raw syscalls used here (unlike
// Go's syscall.Setuid, which changes every thread) change only the calling
// thread, which stays locked to its goroutine and is discarded by the Go
// runtime when that goroutine ends: no other goroutine ever runs with the
// user's credentials, and none has to be restored.
package asuser

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cred is who to act as.
type Cred struct {
	UID, GID uint32
	Groups   []uint32
}

// Do runs fn on a fresh thread with c's credentials.
func Do(c Cred, fn func() error) error {
	res := make(chan error, 1)
	go func() {
		// Never unlocked: the thread dies with the goroutine.
		if err := lockThread(); err != nil {
			res <- err
			return
		}
		if err := become(c); err != nil {
			res <- err
			return
		}
		res <- fn()
	}()
	return <-res
}

// Worker is a thread that keeps a user's credentials for many operations
// (an sftp session of one user), saving a thread per call.
type Worker struct {
	work chan func()
	done chan struct{}
}

var errClosed = errors.New("asuser: worker closed")

// NewWorker starts a thread with c's credentials.
func NewWorker(c Cred) (*Worker, error) {
	w := &Worker{work: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		if err := lockThread(); err != nil {
			started <- err
			return
		}
		if err := become(c); err != nil {
			started <- err
			return
		}
		started <- nil
		for {
			select {
			case f := <-w.work:
				f()
			case <-w.done:
				return
			}
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

// Do runs fn on the worker's thread and returns its error.
func (w *Worker) Do(fn func() error) error {
	res := make(chan error, 1)
	select {
	case w.work <- func() { res <- fn() }:
		return <-res
	case <-w.done:
		return errClosed
	}
}

// Close ends the worker; its thread goes with it.
func (w *Worker) Close() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// lockThread locks the calling goroutine to a thread other than the
// process's main thread. The runtime cannot end the main thread when a
// goroutine locked to it ends: it keeps it, with the user's credentials,
// and /proc/PID/status and every permission check against the process
// (ptrace, kill, /proc/PID/mem) would then see that user. bproc's main
// keeps the main thread to itself (runtime.LockOSThread in its init), so
// in the binary the first try succeeds; a test binary may need another.
func lockThread() error {
	for range 1000 {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			return nil
		}
		runtime.UnlockOSThread()
		time.Sleep(50 * time.Microsecond) // wake up on another thread
	}
	return errors.New("asuser: no thread but the main one to act as a user on")
}

// become switches the calling (locked) thread to c: groups first, then gid,
// then uid, since after setresuid the thread may no longer change the
// others.
func become(c Cred) error {
	var gp unsafe.Pointer
	if len(c.Groups) > 0 {
		gp = unsafe.Pointer(&c.Groups[0])
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(c.Groups)), uintptr(gp), 0); e != 0 {
		return fmt.Errorf("act as uid %d: setgroups: %w", c.UID, e)
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESGID, uintptr(c.GID), uintptr(c.GID), uintptr(c.GID)); e != 0 {
		return fmt.Errorf("act as uid %d: setresgid %d: %w", c.UID, c.GID, e)
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESUID, uintptr(c.UID), uintptr(c.UID), uintptr(c.UID)); e != 0 {
		return fmt.Errorf("act as uid %d: setresuid: %w", c.UID, e)
	}
	return nil
}
