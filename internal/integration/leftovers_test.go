package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNothingLeftBehind: bpmaster stopped with SIGINT takes its local
// nodes with it: no process is left in any of their namespaces (so the
// namespaces, and the mounts in them, are gone), and none of their mounts
// (the nodes' tmpfs roots, the views' FUSE file systems) is left in the
// master's mount namespace.
func TestNothingLeftBehind(t *testing.T) {
	before := bprocMounts(t, "")
	c := startCluster(t, 2)
	// The views mount as programs use them.
	if r := c.run("", "bpsh", "-a", "cat", "/etc/hostname"); r.code != 0 {
		t.Fatalf("bpsh -a cat /etc/hostname: exit %d %s", r.code, r.stderr)
	}
	nss := map[string]int{} // namespace -> a node bpslave in it
	for _, pid := range c.slavePIDs() {
		for _, kind := range []string{"mnt", "pid", "uts", "ipc"} {
			ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
			if err != nil {
				t.Fatal(err)
			}
			own, _ := os.Readlink("/proc/self/ns/" + kind)
			if ns == own {
				t.Errorf("node bpslave %d shares the test's %s namespace", pid, kind)
				continue
			}
			nss[ns] = pid
		}
	}
	if len(nss) != 8 {
		t.Errorf("%d node namespaces, want 4 for each of 2 nodes", len(nss))
	}

	c.stopWith(syscall.SIGINT)

	for _, ns := range holders(t) {
		if pid, ok := nss[ns.ns]; ok {
			t.Errorf("process %d (%s) is still in %s, node bpslave %d's", ns.pid, ns.comm, ns.ns, pid)
		}
	}
	if after := bprocMounts(t, c.dir); len(after) > len(before) {
		t.Errorf("mounts left in the master's namespace:\n%s", strings.Join(after, "\n"))
	}
}

// bprocMounts are the mounts of this mount namespace that a cluster could
// have left: a node's root (tmpfs "noderoot"), a view (FUSE
// "bproc-master:..."), anything under dir. Other FUSE mounts are other
// tests'.
func bprocMounts(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		source := ""
		for i, x := range f {
			if x == "-" && i+2 < len(f) {
				source = f[i+2]
			}
		}
		if source == "noderoot" || strings.HasPrefix(source, "bproc-master:") || dir != "" && strings.HasPrefix(f[4], dir) {
			out = append(out, line)
		}
	}
	return out
}

type nsHolder struct {
	pid  int
	comm string
	ns   string
}

// holders are every process's namespaces.
func holders(t *testing.T) []nsHolder {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/ns/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []nsHolder
	for _, d := range dirs {
		ns, err := os.Readlink(d)
		if err != nil {
			continue // gone meanwhile
		}
		var pid int
		fmt.Sscanf(d, "/proc/%d/", &pid)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		out = append(out, nsHolder{pid, strings.TrimSpace(string(comm)), ns})
	}
	return out
}

// TestOrphansEndWithTheMaster: a node cut off from its master past the
// grace time (here none: --node-grace 0, BProc's way) ends not only its
// remote processes but what they left behind: a daemon a remote shell
// started and returned from, now the node's PID 1's. (Within the grace
// time they are kept, descendants too: TestSpacePauseKeepsDescendants.)
func TestOrphansEndWithTheMaster(t *testing.T) {
	c := startCluster(t, 1, "--node-grace", "0")
	slave := c.nodePID(t, 0)
	// One left in the remote shell's session, one that made a session of
	// its own: the node's PID 1 ends both.
	if r := c.run("", "bpsh", "0", "sh", "-c", "sleep 306.5 >/dev/null 2>&1 & setsid sleep 306.6 >/dev/null 2>&1 &"); r.code != 0 {
		t.Fatalf("bpsh 0 sh -c 'sleep & setsid sleep &': exit %d %s", r.code, r.stderr)
	}
	var orphan, escaped int
	waitFor(t, "the orphaned sleeps on node 0", func() bool {
		if p := inNamespaceOf(slave, pgrep("sleep", "306.5")); len(p) == 1 {
			orphan = p[0]
		}
		if p := inNamespaceOf(slave, pgrep("sleep", "306.6")); len(p) == 1 {
			escaped = p[0]
		}
		return orphan != 0 && escaped != 0
	})
	t.Cleanup(func() { syscall.Kill(orphan, syscall.SIGKILL); syscall.Kill(escaped, syscall.SIGKILL) })
	master := c.master.Process.Pid
	if err := syscall.Kill(master, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(master, syscall.SIGCONT) })
	c.waitLog(t, regexp.MustCompile(`master silent for two ping intervals`))
	waitWithin(t, "the orphaned sleep killed", 10*time.Second, func() bool { return !alive(orphan) })
	waitWithin(t, "the sleep in a session of its own killed", 10*time.Second, func() bool { return !alive(escaped) })
	syscall.Kill(master, syscall.SIGCONT)
	waitWithin(t, "node 0 up again", 60*time.Second, func() bool { return nodeState(c, 0) == "up" })
}
