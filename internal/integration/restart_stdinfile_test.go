package integration

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Stdin from a regular file survives a lost master: the file holds what
// the master had read and sent, and the copy seeks back to what the node
// had written into the process (procs_stdin_file.go). The remote reader
// takes its stdin slowly (1000 lines each 5 ms), and the file is larger
// than what the connection holds in flight (its 2 MiB window), so the
// master's copy waits in a write with a chunk of the file in hand when it
// goes: the old code lost that chunk.

// numbersFile writes 0 to n-1, a line each, to a file of the test's and
// opens it.
func numbersFile(t *testing.T, n int) *os.File {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintln(&b, i)
	}
	name := filepath.Join(t.TempDir(), "numbers")
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// slowEcho copies its stdin to its stdout, 1000 lines each 5 ms.
var slowEcho = []string{"python3", "-c", `import sys, time
for i, l in enumerate(sys.stdin.buffer):
    sys.stdout.buffer.write(l)
    if i % 1000 == 999:
        sys.stdout.flush()
        time.sleep(0.005)
`}

// TestMasterKilledStdinFile: through a SIGKILL of the master and a new
// one, every line of a file given as stdin arrives once.
func TestMasterKilledStdinFile(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	stdinFileThrough(t, c, func() { killRestart(t, c, 300*time.Millisecond) })
}

// TestMasterPauseStdinFile: the same through a master paused past the
// ping timeout (the same master takes the process back).
func TestMasterPauseStdinFile(t *testing.T) {
	c := startCluster(t, 1, "--no-diskless", "--node-grace", "60s")
	stdinFileThrough(t, c, func() { pauseMaster(t, c, 5*time.Second) })
}

// stdinFileThrough gives a file of numbers as stdin to slowEcho on node
// 0 of c, has lose take its master away once the output has begun, and
// checks that every line arrives once, the file read again from where
// the node was.
func stdinFileThrough(t *testing.T, c *cluster, lose func()) {
	t.Helper()
	const n = 400000
	var out, errb syncBuffer
	cmd := c.command("bpsh", append([]string{"0"}, slowEcho...)...)
	cmd.Stdin = numbersFile(t, n)
	startRecorded(t, cmd, &out, &errb)
	waitOutput(t, &out, "\n1000\n")
	lose()
	if err := waitCmd(cmd, 120*time.Second); err != nil {
		t.Errorf("bpsh: %v; stderr %q", err, errb.String())
	}
	checkCount(t, out.String(), n)
	c.waitLog(t, regexp.MustCompile(`stdin read again from its file after a resume`))
}

// TestMasterKilledStdinPipe: stdin a killed master had read from bpsh's
// pipe and not seen acknowledged by the node is kept by the ghost and
// given to the next master (procs_stdin_ghost.go): every line arrives
// once. The remote process reads nothing for its first seconds, so the
// master reads ahead of the node, more than the connection holds in
// flight (the old code kept up to 4 MiB in the master alone, and lost it).
func TestMasterKilledStdinPipe(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	const n = 600000
	var out, errb syncBuffer
	cmd := c.command("bpsh", "0", "sh", "-c", "sleep 4; exec cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	startRecorded(t, cmd, &out, &errb)
	wrote := make(chan error, 1)
	go func() {
		var b strings.Builder
		for i := range n {
			fmt.Fprintln(&b, i)
		}
		_, err := io.WriteString(in, b.String())
		in.Close()
		wrote <- err
	}()
	waitStarted(t, c, 1)
	time.Sleep(1500 * time.Millisecond) // the master reads ahead meanwhile
	killRestart(t, c, 300*time.Millisecond)
	if err := <-wrote; err != nil {
		t.Fatalf("writing to bpsh's stdin: %v", err)
	}
	if err := waitCmd(cmd, 90*time.Second); err != nil {
		t.Errorf("bpsh: %v; stderr %q", err, errb.String())
	}
	checkCount(t, out.String(), n)
	c.waitLog(t, regexp.MustCompile(`remote process recovered after the master restarted.* stdin_kept=[1-9]`))
}
