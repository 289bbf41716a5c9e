package master

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit lifts the master's RLIMIT_NOFILE to the kernel's ceiling
// (fs.nr_open) when it may (root). Each ghost holds a connection here,
// and a cluster's processes outnumber the hard limits distributions set
// (20,000 on these machines, 524,288 under systemd): at the limit the
// master could not take a ghost, a tool or a node. Children get back the
// limits the master started with (os/exec restores them).
func raiseFileLimit(log *slog.Logger) {
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		return
	}
	ceiling := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			ceiling = n
		}
	}
	if cur.Max >= ceiling && cur.Cur >= ceiling {
		return
	}
	want := syscall.Rlimit{Cur: max(cur.Cur, ceiling), Max: max(cur.Max, ceiling)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not root (or no CAP_SYS_RESOURCE): what the hard limit allows.
		want = syscall.Rlimit{Cur: cur.Max, Max: cur.Max}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
			return
		}
	}
	log.Debug("file descriptor limit", "was", cur.Cur, "hard", cur.Max, "now", want.Cur)
}
