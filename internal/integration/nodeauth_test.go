package integration

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/keys"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/wire"
)

// dialWithToken is a node's first connection done by hand: the boot
// token and a fresh key, to a master whose host key is pinned.
func dialWithToken(t *testing.T, c *cluster, node int, token string) (*ssh.Client, error) {
	t.Helper()
	host, err := keys.LoadPublic(filepath.Join(c.dir, "state", "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := nodeauth.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ssh.Dial("tcp", c.nodeAddr(t), &ssh.ClientConfig{
		User:            wire.User(node),
		Auth:            []ssh.AuthMethod{ssh.Password(nodeauth.Credential{Token: token, Key: key.PublicKey()}.String())},
		HostKeyCallback: ssh.FixedHostKey(host),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { cl.Close() })
	}
	return cl, err
}

// TestBootToken: a token is good once; the same token again, or one the
// master never gave, is refused and logged. A node that got in with its
// token and has said no hello (boot state) may not read the master's
// files as root: a root-only file of the master stays out of reach.
func TestBootToken(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "root-only")
	os.WriteFile(secret, []byte("root's secret\n"), 0o600)
	c := startCluster(t, 1, "--nodes", "2")
	tok := c.nodeToken(t, "1")
	node, err := dialWithToken(t, c, 1, tok)
	if err != nil {
		t.Fatalf("the first connection with a fresh token: %v", err)
	}
	c.waitState(t, "1", "boot")
	if _, err := dialWithToken(t, c, 1, tok); err == nil {
		t.Error("a used token was taken again")
	}
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 1: boot token unknown or already used`))
	if _, err := dialWithToken(t, c, 1, strings.Repeat("0a", 32)); err == nil {
		t.Error("a token the master never gave was taken")
	}
	other := c.nodeToken(t, "0")
	if _, err := dialWithToken(t, c, 1, other); err == nil {
		t.Error("node 0's token was taken for node 1")
	}
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 1: boot token is another node's`))

	// In boot, as root: no file of the master's.
	ch, reqs, err := node.OpenChannel(wire.ChanFiles, wire.Encode(wire.FilesRequest{UID: 0}))
	if err == nil {
		go ssh.DiscardRequests(reqs)
		ch.Close()
		t.Fatalf("a node in boot opened the master's files as root (%s is root's alone)", secret)
	}
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || !strings.Contains(oce.Message, "uid 0 has no process on node 1") {
		t.Errorf("files as root from a node in boot: %v", err)
	}
	if r := c.run("", "bpsh", "0", "echo", "still here"); r.stdout != "still here\n" {
		t.Errorf("node 0 after the refusals: %q %q", r.stdout, r.stderr)
	}
}

// TestNoTakeover: a second connection for a node that is up, with a fresh
// boot token, while the node answers pings, is refused and logged; the
// node keeps its connection and the job running on it.
func TestNoTakeover(t *testing.T) {
	c := startCluster(t, 1)
	running := c.startBpsh(t, "0", "sleep", "307.5")
	ghost := waitChild(t, running.Process.Pid)
	if _, err := dialWithToken(t, c, 0, c.nodeToken(t, "0")); err == nil {
		// The handshake passes (the token is good); the master then
		// drops the newcomer. Either way it must not be node 0 now.
		time.Sleep(500 * time.Millisecond)
	}
	c.waitLog(t, regexp.MustCompile(`refused node connection.*node 0: node is up and answers on its connection; a second connection with a new boot token is not a takeover`))
	if strings.Contains(c.log.String(), "dropping its old connection") {
		t.Errorf("the master dropped node 0's connection:\n%s", c.log)
	}
	if r := c.run("", "bpstat", "-p"); !strings.Contains(r.stdout, "sleep 307.5") {
		t.Errorf("the running job after the attempt: %q", r.stdout)
	}
	if r := c.run("", "bpsh", "0", "echo", "still node 0"); r.stdout != "still node 0\n" {
		t.Errorf("node 0 after the attempt: %q %q", r.stdout, r.stderr)
	}
	syscall.Kill(ghost, syscall.SIGTERM)
	if err := running.Wait(); exitCode(err) != 143 {
		t.Errorf("the job after SIGTERM: %v, want exit 143 (it ran on until then)", err)
	}
}
