package ghost

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// TestForkShares: a descendant ghost (CmdFork) is its parent ghost's
// child and shares its memory, as a job's siblings share their
// template's: it costs a slice of its parent's arena and no address
// space of its own. It forks in turn from that slice and relays signals;
// an exec gives it memory of its own and frees its slice.
func TestForkShares(t *testing.T) {
	ln := listen(t)
	a := start(t, attr{Argv: []string{"a"}, Socket: ln.Addr().String(), Token: newToken(t)})
	ca, _ := accept(t, ln)
	fork := func(c *net.UnixConn, parent int) (int, *net.UnixConn) {
		t.Helper()
		pid, cc := forkGhost(t, c, parent)
		if pp := ppidOf(t, pid); pp != parent {
			t.Errorf("forked ghost %d: parent %d, want %d", pid, pp, parent)
		}
		if !kcmpVM(t, pid, parent) {
			t.Errorf("forked ghost %d: an address space of its own, want its parent's (%d)", pid, parent)
		}
		return pid, cc
	}
	b, cb := fork(ca, a.pid)
	c, cc := fork(cb, b) // from b's slice
	syscall.Kill(c, syscall.SIGUSR1)
	wantEvent(t, cc, syscall.SIGUSR1)
	if got := usedSlots(t, a.pid); got != 2 {
		t.Errorf("%d slots in use in a's memory, want 2 (b's in a's arena, c's in b's)", got)
	}
	// c execs from its slice: memory of its own, its slot free.
	WriteExec(cc, []string{"c2"})
	waitCmdline(t, c, "c2\x00")
	if kcmpVM(t, c, a.pid) {
		t.Errorf("ghost %d shares its parent's memory after an exec", c)
	}
	if got := usedSlots(t, a.pid); got != 1 {
		t.Errorf("%d slots in use after c's exec, want 1 (b's)", got)
	}
	syscall.Kill(c, syscall.SIGUSR2)
	wantEvent(t, cc, syscall.SIGUSR2)

	// The deepest stack a descendant used on its slice (b forked, c
	// relayed and exec'd), with a sibling's margin.
	deepest := deepestSlice(t, a.pid)
	t.Logf("deepest descendant stack %d bytes", deepest)
	if deepest == 0 || deepest > sliceSize-specSize-4-192 {
		t.Errorf("deepest descendant stack %d bytes, want some, and at least 192 bytes of the slice's %d left", deepest, sliceSize-specSize-4)
	}

	WriteExit(cc, 5)
	WriteExit(cb, 6)
	WriteExit(ca, 0)
	a.wait(t, 0)
}

const sliceSize, specSize = 1024, 64

// forkGhost has the ghost on c fork a descendant ghost (CmdFork) and
// returns its PID and connection, which the ghost hands over with its
// EventForked: the master's end of a socket pair, whose peer is the
// parent ghost that made it.
func forkGhost(t *testing.T, c *net.UnixConn, parent int) (int, *net.UnixConn) {
	t.Helper()
	if err := WriteFork(c, newToken(t), false); err != nil {
		t.Fatal(err)
	}
	pid, fds := readForked(t, c)
	if pid <= 0 || len(fds) != 1 {
		t.Fatalf("EventForked: PID %d with %d fds, want a PID and 1 fd", pid, len(fds))
	}
	f := os.NewFile(uintptr(fds[0]), "forked")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cc := fc.(*net.UnixConn)
	t.Cleanup(func() { cc.Close() })
	if cred, err := unix.GetsockoptUcred(fdOf(t, cc), unix.SOL_SOCKET, unix.SO_PEERCRED); err != nil || int(cred.Pid) != parent {
		t.Errorf("forked ghost %d's connection: peer %+v (%v), want its parent ghost %d", pid, cred, err, parent)
	}
	return pid, cc
}

// readForked reads an EventForked from c: the PID and the fds with it.
func readForked(t *testing.T, c *net.UnixConn) (int, []int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	var b [EventSize]byte
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(b[:], oob)
	if err != nil || n != EventSize {
		t.Fatalf("read EventForked: %d bytes, %v", n, err)
	}
	var fds []int
	if oobn > 0 {
		if fds, err = parseRights(oob[:oobn]); err != nil {
			t.Fatal(err)
		}
	}
	if typ := binary.LittleEndian.Uint32(b[0:4]); typ != EventForked {
		t.Fatalf("event %d, want EventForked", typ)
	}
	pid, drains := ParseForked(binary.LittleEndian.Uint32(b[4:8]))
	if pid > 0 && !drains {
		t.Errorf("EventForked of PID %d without ForkedDrains, asked with ForkAsk", pid)
	}
	return pid, fds
}

// TestForkPairUnclaimed: a descendant ghost whose connection the master
// never took (a master killed as the fd was on its way) dies: it was told
// no grace to wait for another master.
func TestForkPairUnclaimed(t *testing.T) {
	ln := listen(t)
	a := start(t, attr{Argv: []string{"a"}, Socket: ln.Addr().String(), Token: newToken(t)})
	ca, _ := accept(t, ln)
	if err := WriteFork(ca, newToken(t), false); err != nil {
		t.Fatal(err)
	}
	pid, fds := readForked(t, ca)
	if pid <= 0 || len(fds) != 1 {
		t.Fatalf("EventForked: PID %d with %d fds", pid, len(fds))
	}
	if pp := ppidOf(t, pid); pp != a.pid {
		t.Errorf("forked ghost %d: parent %d, want %d", pid, pp, a.pid)
	}
	unix.Close(fds[0])
	waitFor(t, func() bool { return unix.Kill(pid, 0) != nil })
	// Its parent reaped it and goes on: it forks again.
	b, cb := forkGhost(t, ca, a.pid)
	syscall.Kill(b, syscall.SIGUSR1)
	wantEvent(t, cb, syscall.SIGUSR1)
	WriteExit(ca, 0)
	a.wait(t, 0)
}

func ppidOf(t *testing.T, pid int) int {
	t.Helper()
	st, err := procfs.ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st.PPid
}

// arenas reads every arena of stacks in pid's memory (arenaRanges).
func arenas(t *testing.T, pid int) [][]byte {
	t.Helper()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var out [][]byte
	for _, r := range arenaRanges(t, pid) {
		buf := make([]byte, r[1]-r[0])
		if _, err := mem.ReadAt(buf, int64(r[0])); err != nil {
			t.Fatalf("read arena %#x-%#x: %v", r[0], r[1], err)
		}
		out = append(out, buf)
	}
	return out
}

// arenaRanges is where the arenas of stacks are in pid's memory: each
// writable anonymous mapping right below a PROT_NONE one.
func arenaRanges(t *testing.T, pid int) [][2]uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]uint64
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines[:len(lines)-1] {
		f, next := strings.Fields(l), strings.Fields(lines[i+1])
		if len(f) != 5 || f[1] != "rw-p" || len(next) != 5 || next[1] != "---p" {
			continue
		}
		var lo, hi, nlo uint64
		fmt.Sscanf(f[0], "%x-%x", &lo, &hi)
		fmt.Sscanf(next[0], "%x-", &nlo)
		if hi == nlo {
			out = append(out, [2]uint64{lo, hi})
		}
	}
	return out
}

// usedSlots counts the slices of pid's arenas whose pid word is set.
func usedSlots(t *testing.T, pid int) int {
	n := 0
	for _, a := range arenas(t, pid) {
		for s := 0; s+sliceSize <= len(a); s += sliceSize {
			if binary.LittleEndian.Uint32(a[s:]) != 0 {
				n++
			}
		}
	}
	return n
}

// deepestSlice is the most stack any slice of pid's arenas has held.
func deepestSlice(t *testing.T, pid int) int {
	deepest := 0
	for _, a := range arenas(t, pid) {
		for s := 0; s+sliceSize <= len(a); s += sliceSize {
			b := a[s+4 : s+sliceSize-specSize]
			if low := slices.IndexFunc(b, func(c byte) bool { return c != 0 }); low >= 0 {
				deepest = max(deepest, len(b)-low)
			}
		}
	}
	return deepest
}
