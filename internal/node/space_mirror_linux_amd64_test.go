package node

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// changeConn is a master that only hears ReqChange.
type changeConn struct {
	ssh.Conn
	changes chan wire.Change
}

func (c *changeConn) SendRequest(name string, wantReply bool, payload []byte) (bool, []byte, error) {
	if name == wire.ReqChange {
		var ch wire.Change
		if err := wire.Decode(name, payload, &ch); err == nil {
			c.changes <- ch
		}
	}
	return false, nil, nil
}

// TestSpaceMirror: under the space's filter, an exec sends the new argv
// once (the program's own first exec, and failed execs, send nothing),
// and a setsid sends the new session; the node's own exec of the program
// passes unnotified (else Start would never return).
func TestSpaceMirror(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: spawn sets credentials")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "s")
	// PATH holds a directory without sleep first: sh's search fails there.
	// (An asynchronous list's stdin is /dev/null: the inner shell reads fd 3.)
	body := "#!/bin/sh\nPATH=" + dir + ":/usr/bin:/bin\nexec 3<&0\nread x\nsetsid sh -c 'read y <&3; exec sleep 0.2' &\nwait\nexec sleep 0.2\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	conn := &changeConn{changes: make(chan wire.Change, 16)}
	s := &Slave{log: slog.New(slog.DiscardHandler), conn: conn}
	sp := &space{s: s, on: true, tracked: map[int]*tracked{}}
	s.space = sp
	in, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	attr := spawn.Attr{Path: script, Argv: []string{script}, Files: []int{int(in.Fd()), -1, 2}}
	serve := sp.withFilter(&attr)
	pid, pidfd, err := spawn.Start(attr)
	serve(err == nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	defer unix.Kill(pid, unix.SIGKILL)
	// No fork has happened yet, but the forks need a master: this one
	// refuses, and the children go on untracked (but filtered).
	select {
	case c := <-conn.changes:
		t.Fatalf("a change before any call: %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
	// The inner shell reads only once its exec has been seen: a state
	// that lasts less than a look may be passed over (setsid's own argv,
	// which it execs away at once, is one).
	w.Write([]byte("go\n"))
	var got []string
	collect := func(c wire.Change) {
		// One change may carry both, seen in one look.
		if c.Argv != nil {
			got = append(got, "exec "+strings.Join(c.Argv, " "))
		}
		if c.Sid == c.PID && c.Pgid == c.PID {
			got = append(got, "setsid")
		} else if c.Sid != 0 || c.Pgid != 0 || c.Argv == nil {
			got = append(got, fmt.Sprintf("%+v", c))
		}
	}
	for inner := "exec sh -c read y <&3; exec sleep 0.2"; !slices.Contains(got, inner); {
		select {
		case c := <-conn.changes:
			collect(c)
		case <-time.After(10 * time.Second):
			t.Fatalf("changes sent: %q; none is %q", got, inner)
		}
	}
	w.Write([]byte("go\n"))
	w.Close()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("the script: %v, status %#x", err, ws)
	}
	// Each exec that succeeded once, and the setsid; not the failed execs
	// in PATH's first directory, nor the script's own start.
	for quiet := time.After(500 * time.Millisecond); quiet != nil; {
		select {
		case c := <-conn.changes:
			collect(c)
		case <-quiet:
			quiet = nil
		}
	}
	got = slices.DeleteFunc(got, func(s string) bool { return s == "exec setsid sh -c read y <&3; exec sleep 0.2" })
	slices.Sort(got)
	want := []string{"exec sh -c read y <&3; exec sleep 0.2",
		"exec sleep 0.2", "exec sleep 0.2", "setsid"}
	if !slices.Equal(got, want) {
		t.Errorf("changes sent:\n%q\nwant\n%q", got, want)
	}
}

// TestExecWatchEndsUnseen: the watch of an exec whose process ends
// (exit_group) before argvLag ends with it, unseen: no goroutine, no
// timer's wake-up and no /proc reads of its own for the argv of a process
// gone, as for most execs of a fork-heavy loop (/bin/true). Before, the
// watch's goroutine ran from the exec and looked once argvLag had passed.
func TestExecWatchEndsUnseen(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	// Its own exec done first, to its argument area (which the kernel
	// sets after the exec has closed Start's pipe): the watches below
	// must see no exec.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if st, err := readProcState(pid); err == nil && string(b) == "sleep\n" && st.args[0] != 0 && st.args[2] != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sleep never ran")
		}
	}
	conn := &changeConn{changes: make(chan wire.Change, 16)}
	s := &Slave{log: slog.New(slog.DiscardHandler), conn: conn}
	sp := &space{s: s, on: true, tracked: map[int]*tracked{}}
	s.space = sp
	answered := 0
	q := newCallQueue(newExitHolds(func(uint64) { answered++ }, nil))
	watches := func() int {
		sp.mirrors.mu.Lock()
		defer sp.mirrors.mu.Unlock()
		return len(sp.mirrors.watches)
	}
	// The listener is none (-1): the answers' ioctls fail, unseen.
	sp.handle(-1, &seccompNotif{id: 1, pid: uint32(pid), nr: unix.SYS_EXECVE}, q)
	if watches() != 1 {
		t.Fatalf("%d watches after an exec, want 1", watches())
	}
	sp.handle(-1, &seccompNotif{id: 2, pid: uint32(pid), nr: unix.SYS_EXIT_GROUP}, q)
	if answered != 1 {
		t.Errorf("exit_group answered %d times, want 1", answered)
	}
	if n := watches(); n != 0 {
		t.Errorf("%d watches once the process ends, want 0", n)
	}
	// A watch that a process outlives still looks after argvLag: its
	// watch ends once the exec is over (it was none: nothing to send).
	sp.handle(-1, &seccompNotif{id: 3, pid: uint32(pid), nr: unix.SYS_EXECVE}, q)
	for deadline := time.Now().Add(5 * time.Second); watches() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watch of a process that lives on never ended")
		}
	}
	select {
	case c := <-conn.changes:
		t.Errorf("a change sent for no exec: %+v", c)
	default:
	}
}
