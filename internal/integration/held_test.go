package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The checks of this file hold today: they guard what a user must not gain
// through bproc, so that a change that breaks one fails here.

// rawRequest is a local API client written in Python, so that a frame the
// Go tools would never send (another user's PID, a signal to a ghost that
// is not the caller's) reaches the master from a process of another user.
// It prints the reply's JSON; ancillary data (a ghost stub) is dropped.
const rawRequest = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
body = sys.argv[2].encode()
s.sendall(struct.pack(">I", len(body)) + body)
hdr = b""
while len(hdr) < 4:
    b = s.recv(4 - len(hdr))
    if not b:
        sys.exit("closed before a reply")
    hdr += b
n = struct.unpack(">I", hdr)[0]
reply = b""
while len(reply) < n:
    b = s.recv(n - len(reply))
    if not b:
        sys.exit("closed in a reply")
    reply += b
print(reply.decode())
`

// requestAs sends one local API request as uid and decodes the reply.
func (c *cluster) requestAs(t *testing.T, uid uint32, req string) map[string]any {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", rawRequest, c.socket, req)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{uid}}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("request %s as %d: %v %s", req, uid, err, stderrOf(cmd))
	}
	var reply map[string]any
	if err := json.Unmarshal(out, &reply); err != nil {
		t.Fatalf("reply to %s as %d: %v: %q", req, uid, err, out)
	}
	return reply
}

// shellAs runs a shell command on the master as uid.
func shellAs(uid uint32, script string) (string, error) {
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{uid}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestOtherUsersProcesses: another user reaches neither root's ghosts nor
// the master's own process: not by the local API (a signal, a vrfork that
// names root's ghost as its child), nor by the kernel (kill, ptrace's
// /proc files).
func TestOtherUsersProcesses(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	c := startCluster(t, 2)
	const nobody = 65534
	bpsh := c.startBpsh(t, "1", "sleep", "304.5")
	ghost := waitChild(t, bpsh.Process.Pid)
	waitRemote(t, "sleep", "304.5")

	r := c.requestAs(t, nobody, `{"op":"signal","signal":{"pid":`+strconv.Itoa(ghost)+`,"signal":9}}`)
	if e, _ := r["error"].(string); !strings.Contains(e, "operation not permitted") {
		t.Errorf("signal to root's ghost as nobody: reply %v, want operation not permitted", r)
	}

	r = c.requestAs(t, nobody, `{"op":"vrfork","vrfork":{"nodes":[0],"pids":[`+strconv.Itoa(ghost)+`]}}`)
	ranks, _ := r["ranks"].([]any)
	if len(ranks) != 1 {
		t.Errorf("vrfork naming root's ghost as nobody's child: reply %v, want one refused rank", r)
	} else if rank, _ := ranks[0].(map[string]any); rank["error"] != "Invalid process ID" || rank["token"] != nil {
		t.Errorf("vrfork naming root's ghost as nobody's child: rank %v, want Invalid process ID", rank)
	}

	master := c.master.Process.Pid
	for _, probe := range []string{
		"kill -KILL " + strconv.Itoa(ghost),
		"kill -STOP " + strconv.Itoa(master),
		"cat /proc/" + strconv.Itoa(ghost) + "/environ",
		"cat /proc/" + strconv.Itoa(master) + "/environ",
		"head -c1 /proc/" + strconv.Itoa(master) + "/mem",
	} {
		if out, err := shellAs(nobody, probe); err == nil {
			t.Errorf("as nobody, %s succeeded: %q", probe, out)
		}
	}

	// All of it left root's process running, and its master serving.
	time.Sleep(200 * time.Millisecond)
	if len(pgrep("sleep", "304.5")) != 2 { // the ghost and its remote process
		t.Errorf("root's remote sleep is gone after another user's attempts")
	}
	if st := procState(ghost); st == "" || st == "T" {
		t.Errorf("root's ghost is in state %q after another user's attempts", st)
	}
	if out := c.run("", "bpstat", "-s", "1").stdout; strings.TrimSpace(out) != "up" {
		t.Errorf("bpstat -s 1 after another user's attempts: %q", out)
	}
	syscall.Kill(ghost, syscall.SIGTERM)
	bpsh.Wait()
}

// TestSetuidThroughView: a setuid-root program of the master runs on a
// diskless node with the caller's identity: the view is mounted nosuid.
func TestSetuidThroughView(t *testing.T) {
	dir, err := os.MkdirTemp("/var/lib", "bproc-suid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	id := filepath.Join(dir, "id")
	copyFile(t, "/usr/bin/id", id, 0o755)
	if err := os.Chmod(id, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	// The check can fail only where the bit works on the master itself.
	if out, err := shellAs(65534, id+" -u"); err != nil || strings.TrimSpace(out) != "0" {
		t.Skipf("%s is not setuid on the master's own file system here (id -u as nobody: %q, %v)", dir, out, err)
	}

	c := startCluster(t, 1)
	bin := userBinary(t)
	r := c.as(t, bin, 65534, "bpsh", "0", id, "-u")
	if r.code != 0 || r.stdout != "65534\n" {
		t.Errorf("setuid-root id through the view as nobody: exit %d, out %q, err %q; want 65534", r.code, r.stdout, r.stderr)
	}
}
