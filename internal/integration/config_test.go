package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestBadConfig: every bad line is named with its file and line, and the
// master does not start.
func TestBadConfig(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	os.WriteFile(conf, []byte("# a cluster\nbprocport 99999\npingtimeout 30\nfrobnicate yes\n"), 0o644)
	sock := filepath.Join(dir, "master.sock")
	cmd := exec.Command(binary, "bpmaster", "--config", conf, "--socket", sock, "--state-dir", filepath.Join(dir, "state"))
	out, err := cmd.CombinedOutput()
	if exitCode(err) == 0 {
		t.Fatalf("bpmaster started with a bad config:\n%s", out)
	}
	for _, want := range []string{conf + ":2: bprocport", conf + ":4: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("bpmaster's complaint lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), ":3:") {
		t.Errorf("a good line was reported:\n%s", out)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("a master with a bad config made its socket")
	}
	r := exec.Command(binary, "bpmaster", "--config", filepath.Join(dir, "missing"), "--socket", sock)
	if out, err := r.CombinedOutput(); exitCode(err) == 0 || !strings.Contains(string(out), "missing") {
		t.Errorf("bpmaster --config of a missing file: %v\n%s", err, out)
	}
}

// TestConfigNodes: the config says which nodes exist and where they
// connect from; SIGHUP re-reads it without touching running processes, and
// a bad new config is reported and the old one kept.
func TestConfigNodes(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	os.WriteFile(conf, []byte("ip 1 127.0.0.1\nip 2 127.0.0.2\n"), 0o644)
	c := startCluster(t, 1, "--config", conf)
	addr := c.nodeAddr(t)
	state := filepath.Join(c.dir, "state")
	slave := func(node string) {
		cmd := exec.Command(binary, "bpslave", "--master", addr, "--node", node,
			"--host-key", filepath.Join(state, "host_key.pub"))
		token := strings.Repeat("0b", 32) // node 7 is in no table to give one
		if node != "7" {
			token = c.nodeToken(t, node)
		}
		cmd.Env = append(os.Environ(), "BPROC_TOKEN="+token)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	if out := c.run("", "bpstat", "-n").stdout; out != "0\n1\n2\n" {
		t.Errorf("nodes from --local-nodes 1 and the config: %q", out)
	}
	slave("1")
	c.waitState(t, "1", "up")
	slave("2") // from 127.0.0.1, not its 127.0.0.2
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 2: connects from 127.0.0.1, not from its address in the config`))
	slave("7")
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 7: not in the node table`))

	running := c.startBpsh(t, "1", "sleep", "306.5")
	waitChild(t, running.Process.Pid)
	// Nodes 1 and 2 swap addresses, node 3 is new. Node 1 stays connected
	// with its process; node 2, which kept trying, gets in.
	os.WriteFile(conf, []byte("ip 1 127.0.0.2\nip 2 127.0.0.1\nip 3 127.0.0.3\n"), 0o644)
	c.master.Process.Signal(syscall.SIGHUP)
	c.waitLog(t, regexp.MustCompile(`configuration reloaded.*nodes=4 added=1`))
	c.waitState(t, "2", "up")
	os.WriteFile(conf, []byte("ip 1 127.0.0.1\nip 2 300.0.0.2\n"), 0o644)
	c.master.Process.Signal(syscall.SIGHUP)
	c.waitLog(t, regexp.MustCompile(`reload: configuration not changed.*`+regexp.QuoteMeta(conf)+`:2: `))
	if out := c.run("", "bpstat", "-n").stdout; out != "0\n1\n2\n3\n" {
		t.Errorf("nodes after a bad reload: %q", out)
	}
	if r := c.run("", "bpstat", "-p"); !strings.Contains(r.stdout, "sleep 306.5") {
		t.Errorf("the running process after two reloads: %q", r.stdout)
	}
}

// TestAddNode: bpctl --add-node appends a node line to the configuration
// file and the master takes it on at once; a MAC it knows, a bad MAC and a
// caller other than root are refused and change nothing.
func TestAddNode(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	os.WriteFile(conf, []byte("iprange 0 10.7.0.10 10.7.0.20\nnode 0 52:54:00:00:00:01"), 0o644) // no newline at the end
	c := startCluster(t, 1, "--config", conf)
	if r := c.run("", "bpctl", "--add-node", "52:54:00:00:00:02"); r.code != 0 || r.stdout != "52:54:00:00:00:02: node 1\n" {
		t.Fatalf("bpctl --add-node: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(conf); string(b) != "iprange 0 10.7.0.10 10.7.0.20\nnode 0 52:54:00:00:00:01\nnode 52:54:00:00:00:02\n" {
		t.Errorf("config after --add-node:\n%s", b)
	}
	if out := c.run("", "bpstat", "1").stdout; !strings.Contains(out, "down") {
		t.Errorf("bpstat 1 after --add-node: %q", out)
	}
	before, _ := os.ReadFile(conf)
	if r := c.run("", "bpctl", "--add-node", "52:54:00:00:00:02"); r.code != 1 || !strings.Contains(r.stderr, "is node 1 already") {
		t.Errorf("adding a known MAC: exit %d %q", r.code, r.stderr)
	}
	if r := c.run("", "bpctl", "--add-node", "52:54:00:00:00"); r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("adding a bad MAC: exit %d %q, want 2 and one line", r.code, r.stderr)
	}
	if r := c.as(t, userBinary(t), 65534, "bpctl", "--add-node", "52:54:00:00:00:03"); r.code != 1 || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("nobody adding a node: exit %d %q", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(conf); string(after) != string(before) {
		t.Errorf("refused --add-node changed the config:\n%s", after)
	}
}

// TestReloadMissingConfig: a SIGHUP while the config file is gone keeps
// the running configuration, and says why; it used to reload an empty
// one, "nodes=0 added=0 removed=4".
func TestReloadMissingConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	os.WriteFile(conf, []byte("nodes 4\n"), 0o644)
	c := startCluster(t, 1, "--config", conf)
	if out := c.run("", "bpstat", "-n").stdout; out != "0\n1\n2\n3\n" {
		t.Fatalf("nodes from the config: %q", out)
	}
	os.Remove(conf)
	c.master.Process.Signal(syscall.SIGHUP)
	c.waitLog(t, regexp.MustCompile(`reload: configuration not changed.*`+regexp.QuoteMeta(conf)+`: no such file`))
	if strings.Contains(c.log.String(), "configuration reloaded") {
		t.Errorf("a reload without its file was applied:\n%s", c.log)
	}
	if out := c.run("", "bpstat", "-n").stdout; out != "0\n1\n2\n3\n" {
		t.Errorf("nodes after a reload without the file: %q", out)
	}
	// The file back, the reload goes through.
	os.WriteFile(conf, []byte("nodes 3\n"), 0o644)
	c.master.Process.Signal(syscall.SIGHUP)
	c.waitLog(t, regexp.MustCompile(`configuration reloaded.*nodes=3 added=0 removed=1`))
}
