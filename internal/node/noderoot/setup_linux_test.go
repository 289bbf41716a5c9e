package noderoot

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

// TestHelperNode is the name the helper processes are started under; their
// work is done in TestMain, before the testing package runs anything.
func TestHelperNode(t *testing.T) {
	t.Skip("helper process entry point; does its work only with " + helperEnv + " set")
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces and mounts")
	}
}

// runHelper runs a helper from the test process and fails the test on every
// failed check. It also checks that the machine's mount table, /tmp and
// /mnt did not change.
func runHelper(t *testing.T, mode string, env ...string) report {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	r, stderr, err := spawn(ctx, exe, mode, env...)
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr)
	}
	after := takeSnapshot()
	t.Logf("helper %s: Setup %.1f ms, helper process %v in all", mode, r.SetupMS, wall.Round(time.Millisecond))
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		} else if testing.Verbose() {
			t.Logf("ok %s: %s", c.Name, c.Detail)
		}
	}
	if len(r.Checks) == 0 {
		t.Errorf("helper %s reported no checks; stderr:\n%s", mode, stderr)
	}
	checkHostUnchanged(t, before, after)
	return r
}

// checkHostUnchanged compares the machine's mount table byte for byte, and
// its /tmp and /mnt. Other people's tests run on this machine at the same
// time: named network namespaces (mounts under /run/netns) and new files in
// /tmp are theirs unless the name is one the node's root would hold.
func checkHostUnchanged(t *testing.T, before, after snapshot) {
	t.Helper()
	if d := diffLines(before.mountinfo, after.mountinfo); d != "" {
		var ours []string
		for _, l := range strings.Split(d, "\n") {
			if strings.Contains(l, " /run/netns") || strings.Contains(l, " /var/run/netns") {
				t.Logf("mount table: ignoring someone's network namespace: %s", l)
				continue
			}
			// go test runs packages side by side: nodeview's tests mount
			// their FUSE views meanwhile. Setup mounts no FUSE at all.
			if strings.Contains(l, " - fuse.bproc ") {
				t.Logf("mount table: ignoring another test's view: %s", l)
				continue
			}
			ours = append(ours, l)
		}
		if len(ours) > 0 {
			t.Errorf("the machine's mount table changed:\n%s", strings.Join(ours, "\n"))
		}
	}
	rootNames := map[string]bool{"init": true}
	for _, m := range []string{"/"} {
		ents, _ := os.ReadDir(m)
		for _, e := range ents {
			rootNames[e.Name()] = true
		}
	}
	for _, f := range after.files {
		if slices.Contains(before.files, f) {
			continue
		}
		base := f[strings.LastIndexByte(f, '/')+1:]
		if rootNames[base] || strings.HasPrefix(f, "/mnt/") {
			t.Errorf("%s appeared on the machine during the test", f)
		} else {
			t.Logf("%s appeared during the test (not a name the node root holds: someone else's?)", f)
		}
	}
}

// TestSetup makes a node from the machine as it is and checks it from
// inside.
func TestSetup(t *testing.T) {
	needRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	runHelper(t, "node", hostnameEnv+"=n3", binaryEnv+"="+exe)
}

// TestSetupBare makes a node without the master view.
func TestSetupBare(t *testing.T) {
	needRoot(t)
	runHelper(t, "bare")
}

// TestSetupSharedHost makes a node inside a stand-in host whose mounts are
// shared, and checks that nothing reached the host.
func TestSetupSharedHost(t *testing.T) {
	needRoot(t)
	runHelper(t, "host", childEnv+"=node")
}

// TestSetupRefuses checks that Setup refuses, having changed nothing, where
// it must not run. Each case runs inside a stand-in host, so a refusal that
// did not happen would wreck a throwaway namespace, not the machine's.
func TestSetupRefuses(t *testing.T) {
	needRoot(t)
	for _, mode := range []string{"missing-binary", "not-pid1", "shared-ns"} {
		t.Run(mode, func(t *testing.T) {
			r := runHelper(t, "host", childEnv+"="+mode)
			for _, c := range r.Checks {
				if strings.Contains(c.Name, "Setup error") {
					t.Logf("%s: %s", c.Name, c.Detail)
				}
			}
		})
	}
}
