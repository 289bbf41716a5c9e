package config

import (
	"os"
	"strings"
	"testing"
)

// TestClusterDocConfig: the example config of docs/cluster.md is one
// bpmaster takes, with the nodes, addresses and limits the page says it
// has; a keyword renamed or a check made stricter fails here rather than
// in an administrator's hands.
func TestClusterDocConfig(t *testing.T) {
	const doc = "../../../docs/cluster.md"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := codeBlock(t, string(b), "# /etc/bproc/config\n")
	c, err := Parse(doc, []byte(text))
	if err != nil {
		t.Fatalf("the example config of %s: %v", doc, err)
	}
	nodes := c.Nodes()
	if len(nodes) != 40 {
		t.Errorf("%d nodes, want 40 (the iprange)", len(nodes))
	}
	for _, n := range nodes[:4] {
		if len(n.MACs) != 1 {
			t.Errorf("node %d: MACs %v, want one", n.Num, n.MACs)
		}
	}
	if c.NodeUpDir != DefaultNodeUpDir || c.CacheSize != 512<<20 || c.TmpSize != 2<<30 || c.MaxProcs != 4096 || c.MaxConns != 65536 || c.PushSetID {
		t.Errorf("nodeupdir %q cachesize %d tmpsize %d maxprocs %d maxconns %d pushsetid %v",
			c.NodeUpDir, c.CacheSize, c.TmpSize, c.MaxProcs, c.MaxConns, c.PushSetID)
	}
	if len(c.Notes) != 0 {
		t.Errorf("notes on the example config: %q", c.Notes)
	}
}

// codeBlock is the fenced block of doc whose text starts with first.
func codeBlock(t *testing.T, doc, first string) string {
	t.Helper()
	i := strings.Index(doc, "```\n"+first)
	if i < 0 {
		t.Fatalf("no code block starting with %q", first)
	}
	rest := doc[i+4:]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatalf("code block starting with %q has no end", first)
	}
	return rest[:end]
}
