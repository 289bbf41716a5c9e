package integration

import (
	"regexp"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestHelloFutureProtocol: a node that claims a protocol version newer
// than the master's is refused with one line, to it and in the log; the
// master and its other nodes go on.
func TestHelloFutureProtocol(t *testing.T) {
	c := startCluster(t, 1, "--nodes", "2")
	node, err := dialWithToken(t, c, 1, c.nodeToken(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	ok, payload, err := node.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{Version: "bproc", Protocol: wire.Protocol + 7}))
	want := "node 1: protocol version 9 is newer than this binary speaks; upgrade the master first (it speaks 1 to 2)"
	if wire.Protocol != 2 {
		t.Fatalf("update this test's message for protocol %d", wire.Protocol)
	}
	if err != nil || ok || string(payload) != want {
		t.Errorf("hello with protocol %d: ok %v, %q, %v; want refused with %q", wire.Protocol+7, ok, payload, err, want)
	}
	c.waitLog(t, regexp.MustCompile(`refused node hello" node=1 reason="`+regexp.QuoteMeta(want)+`"`))
	if r := c.run("", "bpsh", "0", "echo", "still here"); r.stdout != "still here\n" {
		t.Errorf("node 0 after the refusal: %q %q", r.stdout, r.stderr)
	}
	// An old node (no protocol field) is still spoken to.
	node2, err := dialWithToken(t, c, 1, c.nodeToken(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	ok, payload, err = node2.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{Version: "bproc"}))
	var hr wire.HelloReply
	if err != nil || !ok || wire.Decode("reply", payload, &hr) != nil || wire.ProtocolOf(hr.Protocol) != 1 {
		t.Errorf("hello without a protocol: ok %v, %q, %v; want protocol 1", ok, payload, err)
	}
}
