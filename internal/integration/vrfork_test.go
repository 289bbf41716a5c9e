package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestVRforkTree: bproc_vrfork to 8 diskless nodes places a copy on
// each, with its memory, and the 32 MB image leaves the master about
// once: the nodes read it through their views and fetch it from each
// other. What the master wrote is counted by its kernel (wchar of
// /proc/PID/io: every socket, the nodes' SSH connections among them), so
// images sent on each node's channel count too.
func TestVRforkTree(t *testing.T) {
	const nodes, mb = 8, 32
	c := startCluster(t, nodes)
	prog := testProgram(t, "vrfork")
	sent := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", c.master.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "wchar:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
		t.Fatalf("no wchar in /proc/%d/io", c.master.Process.Pid)
		return 0
	}
	// Once for the program and its libraries, which every node reads.
	run := func() result {
		cmd := c.command("", "")
		cmd.Path, cmd.Args = prog, []string{prog, fmt.Sprint(nodes), fmt.Sprint(mb)}
		return c.runCmd(cmd, "")
	}
	if r := run(); r.code != 0 {
		t.Fatalf("vrfork %d %d: exit %d\n%s%s", nodes, mb, r.code, r.stdout, r.stderr)
	}
	before := sent()
	r := run()
	after := sent()
	if r.code != 0 || !strings.Contains(r.stdout, "parent ok") {
		t.Fatalf("vrfork %d %d: exit %d\n%s%s", nodes, mb, r.code, r.stdout, r.stderr)
	}
	for i := 0; i < nodes; i++ {
		if want := fmt.Sprintf("on n%d ok", i); !strings.Contains(r.stdout, fmt.Sprintf("copy %d ", i)) || !strings.Contains(r.stdout, want) {
			t.Errorf("no copy %d %s in:\n%s", i, want, r.stdout)
		}
	}
	image := int64(mb) << 20
	t.Logf("vrfork to %d nodes of a %d MB process: %d bytes written by the master (%.2f images)", nodes, mb, after-before, float64(after-before)/float64(image))
	// Once into the image file, once to the first node; one copy per
	// node (the old way) would be 8.
	if after-before > 3*image {
		t.Errorf("the master wrote %d bytes for a %d-byte image to %d nodes, want at most 3 images' worth", after-before, image, nodes)
	}
	c.waitNoProcs()
}
