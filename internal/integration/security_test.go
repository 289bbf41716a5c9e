package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestCallerIdentity: a process on a node runs as the user who ran bpsh, with
// that user's groups, as the master learned them from SO_PEERCRED.
func TestCallerIdentity(t *testing.T) {
	c := startCluster(t, 2)
	// The binary may sit under a directory only root can enter (a CI
	// checkout in /root): give the other user a copy it can run.
	// t.TempDir's parent is private to root, so make one of our own.
	dir, err := os.MkdirTemp("", "bproc-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bproc")
	copyFile(t, binary, bin, 0o755)

	cmd := exec.Command(bin, "bpsh", "1", "sh", "-c", `id -u; id -g; id -G; echo "$BPROC_NODE"`)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 100}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bpsh as uid 65534: %v\n%s", err, out)
	}
	if want := "65534\n65534\n65534 100\n1\n"; string(out) != want {
		t.Errorf("bpsh as uid 65534 with groups 65534,100 printed %q, want %q", out, want)
	}

	// Every user sees every remote process, as in ps.
	root := c.startBpsh(t, "0", "sleep", "303.5")
	ghost := waitChild(t, root.Process.Pid)
	r := runAs(t, c, bin, 65534, "bpstat", "-p")
	if !strings.Contains(r, "sleep 303.5") {
		t.Errorf("bpstat -p as another user does not list root's process: %q", r)
	}
	if err := syscall.Kill(ghost, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := root.Wait(); exitCode(err) != 143 {
		t.Errorf("bpsh after SIGTERM: %v, want exit 143", err)
	}
}

// TestRefusals: a node with a boot token the master never gave, and an
// SSH client with no key at all, are refused, and each refusal is logged
// with its reason. The nodes that belong go on undisturbed.
func TestRefusals(t *testing.T) {
	c := startCluster(t, 1)
	addr := c.nodeAddr(t)

	// A bpslave with a token of its own making.
	slave := exec.Command(binary, "bpslave", "--master", addr, "--node", "0",
		"--host-key", filepath.Join(c.dir, "state", "host_key.pub"))
	slave.Env = append(os.Environ(), "BPROC_TOKEN="+strings.Repeat("5e", 32))
	var slaveLog syncBuffer
	slave.Stdout, slave.Stderr = &slaveLog, &slaveLog
	slave.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := slave.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Process.Kill(); slave.Wait() })
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 0: boot token unknown or already used`))
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 0: key SHA256:\S+ is not the key pinned for the node`))

	// A client that offers only a password.
	_, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "node0",
		Auth:            []ssh.AuthMethod{ssh.Password("guess")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Fatal("an SSH client with a password was let in")
	}
	// A client with a key, claiming a node number the master does not have.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	_, err = ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "node77",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Fatal("an SSH client with a stranger's key was let in")
	}
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 77`))
	if n := strings.Count(c.log.String(), "refused node connection"); n < 3 {
		t.Errorf("%d refusals logged, want at least 3 (wrong key, password, stranger):\n%s", n, c.log)
	}

	// The real node 0 is still up and runs processes.
	if r := c.run("", "bpsh", "0", "echo", "still here"); r.stdout != "still here\n" {
		t.Errorf("node 0 after the refusals: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
}

func runAs(t *testing.T, c *cluster, bin string, uid uint32, applet string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{applet}, args...)...)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v as uid %d: %v\n%s", applet, args, uid, err, out)
	}
	return string(out)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
