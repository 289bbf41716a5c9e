package spawn

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

func checkStatuses(t *testing.T) {
	r := NewReaper()
	defer r.Close()
	sleep := Attr{Path: "/bin/sleep", Argv: []string{"sleep", "100"}}
	for _, tc := range []struct {
		name   string
		a      Attr
		signal syscall.Signal // sent with r.Signal once started
		want   unix.WaitStatus
	}{
		{"exit 0", sh("exit 0"), 0, exited(0)},
		{"exit 1", sh("exit 1"), 0, exited(1)},
		{"exit 7", sh("exit 7"), 0, exited(7)},
		{"exit 255", sh("exit 255"), 0, exited(255)},
		{"true", Attr{Path: "/bin/true"}, 0, exited(0)},
		{"SIGTERM", sleep, syscall.SIGTERM, killed(syscall.SIGTERM)},
		{"SIGKILL", sleep, syscall.SIGKILL, killed(syscall.SIGKILL)},
		{"SIGSEGV", sh("kill -SEGV $$"), 0, killed(syscall.SIGSEGV)},
		{"SIGKILL with pid", withPID(sleep, 777), syscall.SIGKILL, killed(syscall.SIGKILL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			a.Files = []int{devNull(t), devNull(t), devNull(t)}
			pid, done, err := r.Start(a)
			if err != nil {
				t.Fatal(err)
			}
			if tc.signal != 0 {
				if err := r.Signal(pid, tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			wantStatus(t, tc.name, waitDone(t, pid, done), tc.want)
			if _, ok := <-done; ok {
				t.Errorf("second receive from done got a status")
			}
			if err := r.Signal(pid, syscall.SIGKILL); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("Signal(%d) after the end = %v, want ESRCH", pid, err)
			}
		})
	}
	if n := pidfds(t); n != 0 {
		t.Errorf("%d pidfds left open", n)
	}
}

func checkPIDTaken(t *testing.T) {
	r := NewReaper()
	defer r.Close()
	const pid = 600
	sleep := Attr{Path: "/bin/sleep", Argv: []string{"sleep", "100"}, PID: pid}
	got, done, err := r.Start(sleep)
	if err != nil || got != pid {
		t.Fatalf("Start(PID %d) = %d, %v", pid, got, err)
	}
	defer r.Signal(pid, syscall.SIGKILL)

	if got, _, err := r.Start(withPID(Attr{Path: "/bin/true"}, pid)); !errors.Is(err, ErrPIDTaken) || !errors.Is(err, syscall.EEXIST) {
		t.Errorf("Reaper.Start(PID %d) while it lives = %d, %v; want ErrPIDTaken", pid, got, err)
	} else {
		t.Logf("Reaper.Start: %v", err)
	}
	// Start fails in clone3, before there is a child to wait for, so it
	// may run beside the Reaper.
	if got, _, err := Start(withPID(Attr{Path: "/bin/true"}, pid)); !errors.Is(err, ErrPIDTaken) {
		t.Errorf("Start(PID %d) while it lives = %d, %v; want ErrPIDTaken", pid, got, err)
	}

	if err := r.Signal(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "killed sleep", waitDone(t, pid, done), killed(syscall.SIGKILL))
	// Reaped, so free again.
	got, done, err = r.Start(withPID(Attr{Path: "/bin/true"}, pid))
	if err != nil || got != pid {
		t.Fatalf("Start(PID %d) after the reap = %d, %v", pid, got, err)
	}
	wantStatus(t, "true", waitDone(t, pid, done), exited(0))

	// A child that has ended but that the loop has not reaped yet (it
	// waits for mu, held here): Start reaps it and takes its PID at once.
	// The child waits on a pipe so that it cannot end, and be reaped,
	// before mu is taken.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	waiter := withPID(sh("read x; exit 0"), pid)
	waiter.Files = []int{int(pr.Fd()), devNull(t), devNull(t)}
	got, done, err = r.Start(waiter)
	pr.Close()
	if err != nil || got != pid {
		t.Fatalf("Start(PID %d) = %d, %v", pid, got, err)
	}
	r.mu.Lock()
	pw.Close()
	for !isZombie(pid) {
		time.Sleep(time.Millisecond)
	}
	p, k, err := r.forkLocked(&Attr{Path: "/bin/true", PID: pid})
	r.mu.Unlock()
	if err != nil {
		t.Fatalf("Start(PID %d) over an unreaped child: %v", pid, err)
	}
	if err := p.await(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "unreaped true", waitDone(t, pid, done), exited(0))
	wantStatus(t, "true over it", waitDone(t, pid, k.done), exited(0))
}

func isZombie(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.State == 'Z'
}

func checkOrphan(t *testing.T) {
	r := NewReaper()
	defer r.Close()
	start := func(script string) (int, <-chan unix.WaitStatus) {
		a := sh(script)
		a.Files = []int{devNull(t), devNull(t), devNull(t)}
		pid, done, err := r.Start(a)
		if err != nil {
			t.Fatal(err)
		}
		return pid, done
	}
	slowPID, slow := start("sleep 0.3; exit 3")
	parentPID, parent := start("sleep 0.1 & exit 0")
	wantStatus(t, "orphan's parent", waitDone(t, parentPID, parent), exited(0))
	wantStatus(t, "bystander", waitDone(t, slowPID, slow), exited(3))

	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		orphans := r.orphans
		r.mu.Unlock()
		if orphans == 1 {
			break
		}
		if orphans > 1 || time.Now().After(deadline) {
			t.Fatalf("reaper discarded %d orphan statuses, want 1", orphans)
		}
		time.Sleep(10 * time.Millisecond)
	}
	noZombies(t, r)
}

func checkConcurrent(t *testing.T) {
	r := NewReaper()
	defer r.Close()
	const n = 200
	null := devNull(t)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := sh(fmt.Sprintf("exit %d", i))
			want := exited(i)
			if i%10 == 9 {
				a, want = sh("kill -TERM $$"), killed(syscall.SIGTERM)
			}
			if i%2 == 0 {
				a.PID = 5000 + i
			}
			a.Files = []int{null, null, null}
			pid, done, err := r.Start(a)
			if err != nil {
				t.Errorf("child %d: %v", i, err)
				return
			}
			if a.PID != 0 && pid != a.PID {
				t.Errorf("child %d: pid %d, want %d", i, pid, a.PID)
			}
			wantStatus(t, fmt.Sprintf("child %d (pid %d)", i, pid), waitDone(t, pid, done), want)
		})
	}
	wg.Wait()
	r.mu.Lock()
	kids, orphans := len(r.kids), r.orphans
	r.mu.Unlock()
	if kids != 0 || orphans != 0 {
		t.Errorf("reaper tracks %d children and discarded %d statuses, want 0 and 0", kids, orphans)
	}
	if n := pidfds(t); n != 0 {
		t.Errorf("%d pidfds left open", n)
	}
	noZombies(t, r)
}

func checkClose(t *testing.T) {
	r := NewReaper()
	pid, done, err := r.Start(Attr{Path: "/bin/sleep", Argv: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}()
	r.Close()
	if ws, ok := <-done; ok {
		t.Errorf("done after Close gave %v, want closed", ws)
	}
	if _, _, err := r.Start(Attr{Path: "/bin/true"}); err == nil {
		t.Errorf("Start after Close succeeded")
	}
	if n := pidfds(t); n != 0 {
		t.Errorf("%d pidfds left open", n)
	}
	r.Close()
}

// checkAwaitExit: a child killed just now frees its PID for a Start with
// that PID once AwaitExit returns, as a process moving back to the node
// it just left needs; a live child keeps it, and AwaitExit says so.
func checkAwaitExit(t *testing.T) {
	r := NewReaper()
	defer r.Close()
	const pid = 610
	sleep := Attr{Path: "/bin/sleep", Argv: []string{"sleep", "100"}, PID: pid}
	if got, _, err := r.Start(sleep); err != nil || got != pid {
		t.Fatalf("Start(PID %d) = %d, %v", pid, got, err)
	}
	if r.AwaitExit(pid, 100*time.Millisecond) {
		t.Errorf("AwaitExit(%d) of a live child = true", pid)
	}
	if r.AwaitExit(pid+1, time.Second) {
		t.Errorf("AwaitExit(%d), no child of ours = true", pid+1)
	}
	if err := r.Signal(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !r.AwaitExit(pid, 5*time.Second) {
		t.Fatalf("AwaitExit(%d) after SIGKILL = false", pid)
	}
	got, done, err := r.Start(withPID(Attr{Path: "/bin/true"}, pid))
	if err != nil || got != pid {
		t.Fatalf("Start(PID %d) after AwaitExit = %d, %v", pid, got, err)
	}
	wantStatus(t, "true", waitDone(t, pid, done), exited(0))
}
