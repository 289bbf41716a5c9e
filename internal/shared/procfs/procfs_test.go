package procfs

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stat52 is a /proc/PID/stat text of comm with fields 5 on numbered by
// their field number (field n is n), field 3 state, field 4 ppid.
func stat52(comm, state string, ppid int) string {
	var b strings.Builder
	b.WriteString("12 (" + comm + ") " + state + " " + strconv.Itoa(ppid))
	for n := 5; n <= statFields; n++ {
		b.WriteString(" " + strconv.Itoa(n))
	}
	return b.String() + "\n"
}

func TestParseStat(t *testing.T) {
	for _, comm := range []string{"sh", "a b", "a) b", ") R 1 2 3", "(x)", "", "x\ny"} {
		st, err := ParseStat([]byte(stat52(comm, "S", 4)))
		if err != nil {
			t.Fatalf("ParseStat of comm %q: %v", comm, err)
		}
		want := Stat{State: 'S', PPid: 4, Pgrp: 5, Session: 6, UTime: 14, STime: 15, CUTime: 16, CSTime: 17,
			Threads: 20, StartTime: 22, StartCode: 26, EndCode: 27, StartStack: 28, SigIgnore: 33,
			StartData: 45, EndData: 46, StartBrk: 47, ArgStart: 48, ArgEnd: 49, EnvStart: 50, EnvEnd: 51, ExitCode: 52}
		if st != want {
			t.Errorf("ParseStat of comm %q = %+v, want %+v", comm, st, want)
		}
	}
	full := stat52("sh", "S", 4)
	for _, c := range []struct{ in, err string }{
		{"12 sh S 1 2 3", "no ')'"},
		{"", "no ')'"},
		{"12 (sh)", "2 fields"},
		{full[:len(full)-4], "51 fields"},
		{strings.Replace(full, " 5 ", " x ", 1), "field 5"},
		{strings.Replace(full, " 22 ", " -1 ", 1), "field 22"},
		{strings.Replace(full, " 22 ", " 99999999999999999999 ", 1), "field 22"},
		{strings.Replace(full, " 4 ", " 9223372036854775808 ", 1), "field 4"},
		{strings.Replace(full, ") S ", ") SS ", 1), "field 3"},
	} {
		_, err := ParseStat([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseStat(%.60q) = %v, want an error with %q", c.in, err, c.err)
		}
	}
	// More fields than today's kernels show: a later kernel's.
	if _, err := ParseStat([]byte(full[:len(full)-1] + " 53 54\n")); err != nil {
		t.Errorf("ParseStat with 54 fields: %v", err)
	}
}

func TestReadStatSelf(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pgrp, _ := unix.Getpgid(0)
	sid, _ := unix.Getsid(0)
	// The state is the main thread's, which may sleep while this one runs.
	if st.State != 'R' && st.State != 'S' || st.PPid != os.Getppid() || st.Pgrp != pgrp || st.Session != sid {
		t.Errorf("ReadStat(self) = state %c ppid %d pgrp %d sid %d, want R or S %d %d %d",
			st.State, st.PPid, st.Pgrp, st.Session, os.Getppid(), pgrp, sid)
	}
	// The argument area holds /proc/self/cmdline's bytes.
	cmdline, _ := os.ReadFile("/proc/self/cmdline")
	if st.Threads < 2 || st.StartTime == 0 || st.ArgEnd-st.ArgStart != uint64(len(cmdline)) || st.EnvEnd <= st.EnvStart {
		t.Errorf("ReadStat(self) = %+v; cmdline of %d bytes", st, len(cmdline))
	}
}

// TestReadStatOddComm: a command name of spaces and parentheses, as a
// process may set it, does not move the fields.
func TestReadStatOddComm(t *testing.T) {
	dir := t.TempDir()
	odd := dir + "/a) S 1 (b"
	if err := os.Symlink("/bin/sleep", odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	st, err := ReadStat(cmd.Process.Pid)
	if err != nil || st.PPid != os.Getpid() {
		t.Fatalf("ReadStat(%q) = ppid %d, %v; want %d", odd, st.PPid, err, os.Getpid())
	}
}

func TestReadSelfStat(t *testing.T) {
	st, err := ReadSelfStat()
	if err != nil || st.PPid != os.Getppid() || st.StartTime == 0 {
		t.Errorf("ReadSelfStat() = ppid %d start %d, %v; want %d", st.PPid, st.StartTime, err, os.Getppid())
	}
}

func TestReadNoProcess(t *testing.T) {
	// -1 and 0 name no process, and not /proc/self.
	for _, pid := range []int{-1, 0} {
		if _, err := ReadStat(pid); err == nil || !strings.Contains(err.Error(), "not a PID") {
			t.Errorf("ReadStat(%d) = %v, want not a PID", pid, err)
		}
		if _, err := ReadStatus(pid); err == nil || !strings.Contains(err.Error(), "not a PID") {
			t.Errorf("ReadStatus(%d) = %v, want not a PID", pid, err)
		}
		if _, err := Read(pid, "stat", make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "not a PID") {
			t.Errorf("Read(%d) = %v, want not a PID", pid, err)
		}
	}
	const none = 1 << 30 // above any pid_max
	if _, err := ReadStat(none); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/proc/1073741824/stat") {
		t.Errorf("ReadStat of no process: %v", err)
	}
	if _, err := ReadStatus(none); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/proc/1073741824/status") {
		t.Errorf("ReadStatus of no process: %v", err)
	}
}

const status = "Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t12\nNgid:\t0\nPid:\t13\nPPid:\t7\n" +
	"Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nFDSize:\t64\nGroups:\t9 10 \nNSpid:\t13\t3\nThreads:\t2\n" +
	"SigQ:\t0/1000\nSigPnd:\t0000000000000001\nShdPnd:\t0000000000020000\nSigBlk:\tfffffffffffffeff\n" +
	"SigIgn:\t0000000000001000\nSigCgt:\t0000000180014002\nCapInh:\t0000000000000000\n"

func TestParseStatus(t *testing.T) {
	st, err := ParseStatus([]byte(status), true)
	want := Status{Tgid: 12, PPid: 7, NSPid: 3, UID: [4]uint32{1, 2, 3, 4}, GID: [4]uint32{5, 6, 7, 8},
		SigPnd: 1, ShdPnd: 0x20000, SigBlk: 0xfffffffffffffeff, SigIgn: 0x1000, SigCgt: 0x180014002, Groups: []uint32{9, 10}}
	if err != nil || !statusEqual(st, want) {
		t.Errorf("ParseStatus = %+v, %v; want %+v", st, err, want)
	}
	st, err = ParseStatus([]byte(status), false)
	want.Groups = nil
	if err != nil || !statusEqual(st, want) {
		t.Errorf("ParseStatus without groups = %+v, %v; want %+v", st, err, want)
	}
	// No supplementary groups: an empty list.
	st, err = ParseStatus([]byte(strings.Replace(status, "Groups:\t9 10 \n", "Groups:\t\n", 1)), true)
	if err != nil || st.Groups == nil || len(st.Groups) != 0 {
		t.Errorf("ParseStatus with no groups: %#v, %v", st.Groups, err)
	}
	// Each line missing, or cut short, is named.
	for _, key := range []string{"Tgid", "PPid", "NSpid", "Uid", "Gid", "Groups", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"} {
		i := strings.Index(status, "\n"+key+":") + 1
		j := i + strings.IndexByte(status[i:], '\n') + 1
		if _, err := ParseStatus([]byte(status[:i]+status[j:]), true); err == nil || err.Error() != "no "+key+" line" {
			t.Errorf("ParseStatus without %s: %v", key, err)
		}
		if _, err := ParseStatus([]byte(status[:i]+key+":\tzz\n"+status[j:]), true); err == nil || !strings.HasPrefix(err.Error(), key+" ") {
			t.Errorf("ParseStatus with a bad %s: %v", key, err)
		}
	}
	for _, bad := range []string{"Uid:\t1\t2\t3\n", "Uid:\t1\t2\t3\t4\t5\n", "Uid:\t1\t2\t3\t4294967296\n"} {
		in := strings.Replace(status, "Uid:\t1\t2\t3\t4\n", bad, 1)
		if _, err := ParseStatus([]byte(in), false); err == nil || !strings.Contains(err.Error(), "not four ids") {
			t.Errorf("ParseStatus with %q: %v", bad, err)
		}
	}
}

func statusEqual(a, b Status) bool {
	return slices.Equal(a.Groups, b.Groups) && (a.Groups == nil) == (b.Groups == nil) &&
		a.Tgid == b.Tgid && a.PPid == b.PPid && a.NSPid == b.NSPid && a.UID == b.UID && a.GID == b.GID && a.SigPnd == b.SigPnd &&
		a.ShdPnd == b.ShdPnd && a.SigBlk == b.SigBlk && a.SigIgn == b.SigIgn && a.SigCgt == b.SigCgt
}

func TestReadStatusSelf(t *testing.T) {
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	st, err := ReadStatusGroups(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := os.Getgroups()
	got := make([]int, len(st.Groups))
	for i, g := range st.Groups {
		got[i] = int(g)
	}
	slices.Sort(groups)
	slices.Sort(got)
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if st.Tgid != os.Getpid() || st.PPid != os.Getppid() || st.NSPid != os.Getpid() || st.UID != [4]uint32{uid, uid, uid, uid} ||
		st.GID != [4]uint32{gid, gid, gid, gid} || !slices.Equal(got, groups) {
		t.Errorf("ReadStatusGroups(self) = %+v; want tgid %d ppid %d uid %d gid %d groups %v",
			st, os.Getpid(), os.Getppid(), uid, gid, groups)
	}
	// The Go runtime catches SIGURG; SIGUSR2 is ignored above.
	if st.SigCgt&(1<<(syscall.SIGURG-1)) == 0 || st.SigIgn&(1<<(syscall.SIGUSR2-1)) == 0 {
		t.Errorf("ReadStatus(self): SigCgt %#x SigIgn %#x", st.SigCgt, st.SigIgn)
	}
}

// TestReadStatusManyGroups: a Groups line that takes the status file past
// the read's buffer is read whole, not cut.
func TestReadStatusManyGroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("setting groups wants root")
	}
	var groups []uint32
	for g := range uint32(1000) {
		groups = append(groups, 100000+g)
	}
	cmd := exec.Command("/bin/sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: groups}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	st, err := ReadStatusGroups(cmd.Process.Pid)
	if err != nil || !slices.Equal(st.Groups, groups) {
		t.Fatalf("ReadStatusGroups of 1000 groups = %d groups, %v", len(st.Groups), err)
	}
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"); len(b) <= 2048 {
		t.Fatalf("status of %d bytes: not past the buffer", len(b))
	}
}

func TestParseChildren(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"", nil, false},
		{"12 13 ", []int{12, 13}, false},
		{"12\n", []int{12}, false},
		{"12 x", nil, true},
		{"0", nil, true},
		{"-3", nil, true},
	} {
		set := map[int]bool{}
		err := ParseChildren([]byte(c.in), set)
		if (err != nil) != c.err || !c.err && len(set) != len(c.want) {
			t.Errorf("ParseChildren(%q) = %v, %v; want %v (error %v)", c.in, set, err, c.want, c.err)
		}
		for _, p := range c.want {
			if !set[p] {
				t.Errorf("ParseChildren(%q) = %v: no %d", c.in, set, p)
			}
		}
	}
}

func TestChildren(t *testing.T) {
	cmd := exec.Command("/bin/sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	// The child is of the thread that forked it: one of this process's.
	set, err := Children(os.Getpid())
	if err != nil || !set[cmd.Process.Pid] {
		t.Errorf("Children(self) = %v, %v; want %d among them", set, err, cmd.Process.Pid)
	}
	if err := AddChildren(1<<30, 1<<30, set); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("AddChildren of no process = %v", err)
	}
	if _, err := Children(1 << 30); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Children of no process = %v", err)
	}
}

// TestReadStatZombieExit: an ended process not reaped yet shows its wait
// status in field 52, as the node reads it where the kernel keeps no
// status for a pidfd: an exit code, and a signal.
func TestReadStatZombieExit(t *testing.T) {
	for _, c := range []struct {
		script string
		want   uint64
	}{
		{"exit 7", 7 << 8},
		{"kill -TERM $$", uint64(syscall.SIGTERM)},
	} {
		cmd := exec.Command("/bin/sh", "-c", c.script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var st Stat
		for i := 0; i < 500; i++ {
			var err error
			if st, err = ReadStat(cmd.Process.Pid); err != nil || st.Ended() {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Wait()
		if !st.Ended() || st.ExitCode != c.want {
			t.Errorf("sh -c %q: state %c, exit code %#x; want a zombie with %#x", c.script, st.State, st.ExitCode, c.want)
		}
	}
}
