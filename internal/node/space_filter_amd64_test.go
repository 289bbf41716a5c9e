package node

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// runFilter runs a classic BPF program of the kinds spaceFilter uses (ld
// abs word, jeq, jge, jset, ret) on a struct seccomp_data.
func runFilter(t *testing.T, prog []unix.SockFilter, data []byte) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				ok = a == in.K
			case unix.BPF_JGE:
				ok = a >= in.K
			default:
				ok = a&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			t.Fatalf("instruction %d: code %#x unknown to this interpreter", pc, in.Code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

// TestSpaceFilter: which calls the supervisor hears of.
func TestSpaceFilter(t *testing.T) {
	const (
		notify = unix.SECCOMP_RET_USER_NOTIF
		allow  = unix.SECCOMP_RET_ALLOW
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	data := func(arch uint32, nr int, arg0, arg1 uint64) []byte {
		b := make([]byte, 64)
		binary.LittleEndian.PutUint32(b[0:], uint32(nr))
		binary.LittleEndian.PutUint32(b[4:], arch)
		binary.LittleEndian.PutUint64(b[16:], arg0)
		binary.LittleEndian.PutUint64(b[24:], arg1)
		return b
	}
	const x86 = unix.AUDIT_ARCH_X86_64
	for _, c := range []struct {
		name string
		arch uint32
		nr   int
		arg0 uint64
		arg1 uint64
		want uint32
	}{
		{"fork", x86, unix.SYS_FORK, 0, 0, notify},
		{"vfork", x86, unix.SYS_VFORK, 0, 0, notify},
		{"clone", x86, unix.SYS_CLONE, uint64(unix.SIGCHLD), 0, notify},
		{"clone a thread", x86, unix.SYS_CLONE, unix.CLONE_THREAD | unix.CLONE_VM, 0, allow},
		{"clone3", x86, unix.SYS_CLONE3, 0, 0, enosys},
		{"wait4", x86, unix.SYS_WAIT4, 0, 0, notify},
		{"waitid", x86, unix.SYS_WAITID, 0, 0, notify},
		{"exit_group", x86, unix.SYS_EXIT_GROUP, 0, 0, notify},
		{"exit (a thread's, maybe the last)", x86, unix.SYS_EXIT, 0, 0, notify},
		{"exit tagged (a failed start)", x86, unix.SYS_EXIT, spawn.ExitTag, 0, allow},
		{"exit 127", x86, unix.SYS_EXIT, 127, 0, notify},
		{"execve", x86, unix.SYS_EXECVE, 0, 0, notify},
		{"execveat", x86, unix.SYS_EXECVEAT, 3, 0, notify},
		{"execveat AT_FDCWD", x86, unix.SYS_EXECVEAT, uint64(0xffffffffffffff9c), 0, notify},
		{"execveat tagged", x86, unix.SYS_EXECVEAT, spawn.ExecTag, 0, allow},
		{"execveat tag in the low half only", x86, unix.SYS_EXECVEAT, 1<<32 | spawn.ExecTag, 0, notify},
		{"setpgid", x86, unix.SYS_SETPGID, 0, 0, notify},
		{"setsid", x86, unix.SYS_SETSID, 0, 0, notify},
		{"getpid", x86, unix.SYS_GETPID, 0, 0, allow},
		{"rt_sigaction SIGCHLD", x86, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), 0x7ffd1000, notify},
		{"rt_sigaction SIGCHLD, act above 4 GB", x86, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), 0x7ffd00000000, notify},
		{"rt_sigaction SIGCHLD without act", x86, unix.SYS_RT_SIGACTION, uint64(unix.SIGCHLD), 0, allow},
		{"rt_sigaction SIGUSR1", x86, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), 0x7ffd1000, allow},
		{"read", x86, unix.SYS_READ, 0, 0, allow},
		{"x32 fork", x86, 0x40000000 | unix.SYS_FORK, 0, 0, enosys},
		{"i386 fork", unix.AUDIT_ARCH_I386, 2, 0, 0, enosys},
		{"i386 clone", unix.AUDIT_ARCH_I386, 120, 0, 0, enosys},
		{"i386 getpid", unix.AUDIT_ARCH_I386, 20, 0, 0, allow},
	} {
		if got := runFilter(t, spaceFilter(), data(c.arch, c.nr, c.arg0, c.arg1)); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
}
