package testvm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestNet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	n := &Net{NS: fmt.Sprintf("bproc-testvm-%d", os.Getpid()), Bridge: "br0", Addr: masterAddr, MAC: bridgeMAC, Taps: []string{"tap0", "tap1"}}
	t.Cleanup(func() { DeleteNS(n.NS) })
	if err := n.Create(); err != nil {
		t.Fatal(err)
	}
	if err := n.AddTap("tapx0"); err != nil {
		t.Fatal(err)
	}
	show := func(args ...string) string {
		out, err := exec.Command("ip", append([]string{"-n", n.NS, "-o"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := show("addr", "show", "dev", "br0"); !strings.Contains(out, "inet 10.99.0.1/24") {
		t.Errorf("br0 addresses = %s, want 10.99.0.1/24", out)
	}
	if out := show("link", "show", "dev", "br0"); !strings.Contains(out, bridgeMAC.String()) {
		t.Errorf("br0 = %s, want MAC %s", out, bridgeMAC)
	}
	for _, tap := range []string{"tap0", "tap1", "tapx0"} {
		if out := show("link", "show", "dev", tap); !strings.Contains(out, "master br0") {
			t.Errorf("%s = %s, want a port of br0", tap, out)
		}
	}
	if err := n.Create(); !errors.Is(err, ErrExists) {
		t.Errorf("Create again = %v, want ErrExists", err)
	}
	if pids, err := NSPIDs(n.NS); err != nil || len(pids) != 0 {
		t.Errorf("NSPIDs = %v, %v; want none", pids, err)
	}
	if err := DeleteNS(n.NS); err != nil {
		t.Fatal(err)
	}
	if NSExists(n.NS) {
		t.Errorf("namespace %s still there after DeleteNS", n.NS)
	}
	if err := DeleteNS(n.NS); err != nil {
		t.Errorf("DeleteNS of a missing namespace = %v, want nil", err)
	}
}
