package ghost

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// region is 2 MB: what one page of PTEs maps.
const region = 2 << 20

// mapsOf is pid's mappings (start, end), [vsyscall] left out: it is the
// kernel's, in no page table of the process.
func mapsOf(t *testing.T, pid int) [][2]uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]uint64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasSuffix(l, "[vsyscall]") {
			continue
		}
		lo, hi, _ := strings.Cut(strings.Fields(l)[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		z, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/%d/maps: %q", pid, l)
		}
		out = append(out, [2]uint64{a, z})
	}
	return out
}

// oneRegion says whether all of ms lie in one 2 MB region.
func oneRegion(ms [][2]uint64) bool {
	return len(ms) > 0 && ms[0][0]/region == (ms[len(ms)-1][1]-1)/region
}

// settledLayout waits for the exec'd ghost pid to settle (stub.c's
// settle): its mappings in one 2 MB region, its page tables 12 kB (one
// PUD, PMD and PTE page each), and /proc/PID/cmdline still its argv.
// It returns the address range of its stack.
func settledLayout(t *testing.T, pid int, cmdlineWant string) [2]uint64 {
	t.Helper()
	// Both, as maps may be read while the unmapping is still freeing page
	// tables (no mmap lock for /proc/PID/maps since Linux 6.17).
	pte := func() float64 { return procKB(t, fmt.Sprintf("/proc/%d/status", pid), "VmPTE:") }
	deadline := time.Now().Add(testTimeout)
	for !oneRegion(mapsOf(t, pid)) || pte() > 12 {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
			t.Fatalf("ghost %d: VmPTE %v kB after %v, mappings:\n%swant at most 12 kB, all in one 2 MB region",
				pid, pte(), testTimeout, b)
		}
		time.Sleep(time.Millisecond)
	}
	if got := cmdline(t, pid); got != cmdlineWant {
		t.Errorf("ghost %d: cmdline %q, want %q", pid, got, cmdlineWant)
	}
	ms := mapsOf(t, pid)
	return ms[len(ms)-1]
}

// stackDepth is how deep the settled ghost's stack went: from its
// argument strings (/proc/PID/stat's arg_start) down to the lowest byte
// written in its stack mapping st (fresh, zero-filled).
func stackDepth(t *testing.T, pid int, st [2]uint64) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	argStart, err := strconv.ParseUint(f[48-3], 10, 64) // field 48, counted from field 3
	if err != nil || argStart < st[0] || argStart >= st[1] {
		t.Fatalf("ghost %d: arg_start %q not in its stack %#x-%#x", pid, f[48-3], st[0], st[1])
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	buf := make([]byte, argStart-st[0])
	if _, err := mem.ReadAt(buf, int64(st[0])); err != nil {
		t.Fatal(err)
	}
	low := slices.IndexFunc(buf, func(c byte) bool { return c != 0 })
	if low < 0 {
		return 0
	}
	return len(buf) - low
}

// wantEnviron checks that pid's environment (ps e) is still read.
func wantEnviron(t *testing.T, pid int, sock string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || !strings.HasPrefix(string(b), "BPROC_GHOST_SOCK="+sock+"\x00") {
		t.Errorf("ghost %d: environ %q (%v), want BPROC_GHOST_SOCK=%s first", pid, b, err, sock)
	}
}

// TestExecSettles: an exec'd ghost (a template as started, and any ghost
// after CmdExec) holds its argv, environment and stack in a page or two
// right after its code, all in one 2 MB region (12 kB of page tables, no
// more stack than it uses; the first slots of its arena too), where the kernel's layout costs 24 kB of page
// tables and often two pages of stack; and it is the same ghost: ps reads
// its argv and environment, it relays signals, execs again, reconnects to
// a next master and exits as told.
func TestExecSettles(t *testing.T) {
	ln := listen(t)
	sock := ln.Addr().String()
	a := start(t, attr{Argv: []string{"a", "b c"}, Socket: sock, Token: newToken(t)})
	ca, _ := accept(t, ln)
	settledLayout(t, a.pid, "a\x00b c\x00")
	wantEnviron(t, a.pid, sock)

	// A descendant, exec'd: with a short argv (a page), then a long one (two).
	b, cb := forkGhost(t, ca, a.pid)
	// The arena of the descendant's stack (take) is in the same region.
	if pte := procKB(t, fmt.Sprintf("/proc/%d/status", a.pid), "VmPTE:"); pte > 12 {
		m, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", a.pid))
		t.Errorf("ghost %d with an arena: VmPTE %v kB, want at most 12; mappings:\n%s", a.pid, pte, m)
	}
	for _, argv := range [][]string{{"sleep", "600"}, {"cc", strings.Repeat("x", 3000)}} {
		if err := WriteExec(cb, argv); err != nil {
			t.Fatal(err)
		}
		want := strings.Join(argv, "\x00") + "\x00"
		waitCmdline(t, b, want)
		st := settledLayout(t, b, want)
		wantEnviron(t, b, sock)
		syscall.Kill(b, syscall.SIGUSR1)
		wantEvent(t, cb, syscall.SIGUSR1)
		t.Logf("argv of %d bytes: stack %d kB, %d bytes of it used", len(want), (st[1]-st[0])>>10, stackDepth(t, b, st))
	}
	WriteExit(cb, 0)

	// The template exec'd, and its master gone: it comes back to the
	// next one with what it was told, its stack still its settled one.
	WriteExec(ca, []string{"sh", "-c", "true"})
	waitCmdline(t, a.pid, "sh\x00-c\x00true\x00")
	st := settledLayout(t, a.pid, "sh\x00-c\x00true\x00")
	WriteWhere(ca, 2, 99, 5*time.Second)
	// Read by the ghost before the connection goes: a signal relayed (the
	// ghost reads its signals first, and its commands in the same round).
	syscall.Kill(a.pid, syscall.SIGUSR1)
	wantEvent(t, ca, syscall.SIGUSR1)
	ca.Close()
	ln.Close()
	os.Remove(sock)
	syscall.Kill(a.pid, syscall.SIGUSR2) // held meanwhile
	c2, res, _ := acceptResume(t, sock)
	if res.Node != 2 || res.NodePID != 99 {
		t.Errorf("resume hello %+v, want node 2, PID 99", res)
	}
	wantEvent(t, c2, syscall.SIGUSR2)
	depth := stackDepth(t, a.pid, st)
	t.Logf("after a reconnect: %d bytes of stack used", depth)
	if depth == 0 || depth > settleRoom-512 {
		t.Errorf("stack used %d bytes, want some, and at least 512 of stub.c's ROOM (%d) left", depth, settleRoom)
	}
	WriteExit(c2, 7)
	if ws := a.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("wait status %#x, want exit 7", uint32(ws))
	}
}

// settleRoom is stub.c's ROOM: the stack a settled ghost has at least.
const settleRoom = 2048

// refuse installs, on this goroutine's thread (locked to it for good, so
// that it ends with the test), a seccomp filter that fails system call
// nr with errno when its argument arg has a bit of mask set (mask 0:
// equals val). The ghosts started from this thread, and theirs, inherit it.
func refuse(t *testing.T, nr, arg int, mask, val uint32, errno syscall.Errno) {
	t.Helper()
	runtime.LockOSThread() // never unlocked: the thread goes with the filter
	test := unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: val}
	if mask != 0 {
		test = unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 0, Jf: 1, K: mask}
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: uint32(nr)},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: uint32(16 + 8*arg)}, // the low half of args[arg]
		test,
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		t.Fatalf("seccomp filter: %v", e)
	}
}

// TestExecSettleRefused: where the kernel refuses the move (no
// CONFIG_CHECKPOINT_RESTORE: PR_SET_MM_MAP fails; no room after the
// code), the ghost goes on in the kernel's layout, whole: argv in ps,
// signals, exec, exit status.
func TestExecSettleRefused(t *testing.T) {
	for _, c := range []struct {
		name      string
		nr, arg   int
		mask, val uint32
		errno     syscall.Errno
	}{
		{"prctl", unix.SYS_PRCTL, 0, 0, unix.PR_SET_MM, unix.EINVAL},
		{"mmap", unix.SYS_MMAP, 3, unix.MAP_FIXED_NOREPLACE, 0, unix.EEXIST},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuse(t, c.nr, c.arg, c.mask, c.val, c.errno)
			ln := listen(t)
			a := start(t, attr{Argv: []string{"a"}, Socket: ln.Addr().String(), Token: newToken(t)})
			ca, _ := accept(t, ln)
			b, cb := forkGhost(t, ca, a.pid)
			WriteExec(cb, []string{"sleep", "600"})
			waitCmdline(t, b, "sleep\x00600\x00")
			for _, g := range []struct {
				pid int
				c   *net.UnixConn
			}{{a.pid, ca}, {b, cb}} {
				syscall.Kill(g.pid, syscall.SIGUSR1)
				wantEvent(t, g.c, syscall.SIGUSR1) // running, past settle
				ms := mapsOf(t, g.pid)
				if oneRegion(ms) || len(ms) < 2 || ms[1][0]/region == ms[0][0]/region {
					t.Errorf("ghost %d: mappings %x, want the kernel's layout, nothing after the code", g.pid, ms)
				}
			}
			if got := cmdline(t, a.pid); got != "a\x00" {
				t.Errorf("ghost %d: cmdline %q, want a", a.pid, got)
			}
			WriteExit(cb, 0)
			WriteExit(ca, 4)
			if ws := a.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 4 {
				t.Errorf("wait status %#x, want exit 4", uint32(ws))
			}
		})
	}
}
