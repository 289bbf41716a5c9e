package node

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/spawn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestStartProcRefuses: a process channel the node cannot start from is
// rejected with a reason that names what was wrong, and its place under
// maxprocs is given back.
func TestStartProcRefuses(t *testing.T) {
	s := testSlave(t)
	p := newSSHPair(t)
	// startProc releases its place after the rejection has gone: each
	// case waits for it to return.
	returned := make(chan struct{})
	go func() {
		for nc := range p.chans {
			go func() {
				s.startProc(nc)
				returned <- struct{}{}
			}()
		}
	}()
	// uid 1001 holds one process already: with maxprocs 1, it gets no more.
	if err := s.admit(1001, 1); err != nil {
		t.Fatal(err)
	}
	start := func(ps wire.ProcStart) []byte { return wire.Encode(ps) }
	for _, tc := range []struct {
		name    string
		payload []byte
		reason  ssh.RejectionReason
		says    string
	}{
		{"not JSON", []byte("{not json"), wire.RejectOther, wire.ChanProc},
		{"no argv", start(wire.ProcStart{UID: 1000}), wire.RejectOther, "empty argv"},
		{"negative pid", start(wire.ProcStart{Command: wire.Command{Path: "/bin/x", Argv: []string{"x"}}, PID: -1}), wire.RejectOther, "negative pid"},
		{"unknown builtin", start(wire.ProcStart{Command: wire.Command{Path: "/bin/x", Argv: []string{"x"}, Builtin: "shell"}}), wire.RejectOther, `unknown builtin "shell"`},
		{"over maxprocs", start(wire.ProcStart{Command: wire.Command{Path: "/bin/x", Argv: []string{"x"}}, UID: 1001, MaxProcs: 1}), wire.RejectOther, "user 1001 already has 1 processes here (maxprocs 1)"},
		{"stdin file missing", start(wire.ProcStart{Command: wire.Command{Path: "/bin/x", Argv: []string{"x"}, StdinFile: "/nonexistent/in"}, UID: 1000, GID: 1000}), wire.RejectOther, "open /nonexistent/in: "},
		{"push of a relative path", start(wire.ProcStart{Command: wire.Command{Path: "/bin/prog", Argv: []string{"prog"}}, UID: 1000, Push: []wire.PushFile{{Path: "tmp/prog", Kind: "dir", Mode: 0o755}}}),
			wire.RejectOther, `proc start: push "tmp/prog": not a clean absolute path`},
		{"push beneath a file", start(wire.ProcStart{Command: wire.Command{Path: "/bin/prog", Argv: []string{"prog"}}, UID: 1000, Push: []wire.PushFile{{Path: "/etc/hostname/bproc-test", Kind: "dir", Mode: 0o755}}}),
			wire.RejectOther, "prog: push /etc/hostname/bproc-test: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, _, err := p.master.OpenChannel(wire.ChanProc, tc.payload)
			if err == nil {
				ch.Close()
				t.Fatal("the channel was accepted")
			}
			var oce *ssh.OpenChannelError
			if !errors.As(err, &oce) {
				t.Fatalf("open: %v", err)
			}
			if oce.Reason != tc.reason || !strings.Contains(oce.Message, tc.says) {
				t.Errorf("rejected with %v %q, want %v and %q", oce.Reason, oce.Message, tc.reason, tc.says)
			}
			if strings.Contains(oce.Message, "\n") {
				t.Errorf("reason %q is more than one line", oce.Message)
			}
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Fatal("startProc still running 10 s after the rejection")
			}
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := map[uint32]int{1001: 1}; fmt.Sprint(s.perUser) != fmt.Sprint(want) {
		t.Errorf("processes counted after the refusals: %v, want %v", s.perUser, want)
	}
	if len(s.procs) != 0 {
		t.Errorf("processes recorded after the refusals: %v", s.procs)
	}
}

// TestRejectReason: the reason a failed start gives the ghost is the one
// a shell's exit code stands for: 127 not found, 126 not executable.
func TestRejectReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ssh.RejectionReason
	}{
		{syscall.ENOENT, wire.RejectNotFound},
		{&spawn.ChildError{Path: "/bin/x", Step: "execve", Errno: syscall.ENOENT}, wire.RejectNotFound},
		{fmt.Errorf("push /x: %w", syscall.ENOENT), wire.RejectNotFound},
		{syscall.EACCES, wire.RejectNotExecutable},
		{&spawn.ChildError{Path: "/bin/x", Step: "execve", Errno: syscall.ENOEXEC}, wire.RejectNotExecutable},
		{syscall.EPERM, wire.RejectNotExecutable},
		{syscall.ENOMEM, wire.RejectOther},
		{errors.New("the node's copy was changed"), wire.RejectOther},
	} {
		if got := rejectReason(tc.err); got != tc.want {
			t.Errorf("rejectReason(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestIsChdirError: only the child's failed chdir is retried in /.
func TestIsChdirError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&spawn.ChildError{Dir: "/home/u", Step: "chdir", Errno: syscall.ENOENT}, true},
		{fmt.Errorf("start: %w", &spawn.ChildError{Dir: "/home/u", Step: "chdir", Errno: syscall.EACCES}), true},
		{&spawn.ChildError{Path: "/bin/x", Step: "execve", Errno: syscall.ENOENT}, false},
		{&spawn.ChildError{Step: "chroot", Errno: syscall.EPERM}, false},
		{syscall.ENOENT, false},
		{nil, false},
	} {
		if got := isChdirError(tc.err); got != tc.want {
			t.Errorf("isChdirError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
