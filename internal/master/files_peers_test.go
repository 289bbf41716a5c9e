package master

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/wire"
)

// The nodes asking for one version form a tree: the first fetches from
// the master, and no node is named as a source more than peerFanout
// times.
func TestPeersTree(t *testing.T) {
	var p peers
	v := wire.Version{Path: "/big", Size: 50 << 20, Sum: strings.Repeat("ab", 32)}
	for n := 0; n < 16; n++ {
		p.setAddr(n, fmt.Sprintf("127.0.0.1:%d", 4000+n))
	}
	now := time.Now()
	served := map[string]int{}
	fromMaster := 0
	for n := 0; n < 16; n++ {
		switch a, _ := p.pick(n, v, now); a {
		case "":
			fromMaster++
		case fmt.Sprintf("127.0.0.1:%d", 4000+n):
			t.Errorf("node %d named as its own source", n)
		default:
			served[a]++
		}
	}
	if fromMaster != 1 {
		t.Errorf("%d nodes fetch from the master, want 1", fromMaster)
	}
	for a, k := range served {
		if k > peerFanout {
			t.Errorf("%s serves %d nodes, more than %d", a, k, peerFanout)
		}
	}
	// A node gone is no source.
	p.dropNode(0)
	if a, _ := p.pick(99, wire.Version{Path: "/other", Size: 1, Sum: strings.Repeat("cd", 32)}, now); a != "" {
		t.Errorf("a version nobody has: source %q", a)
	}
}

// A copy is of content: a node that fetched one path is a source for
// another path with the same content.
func TestPeersByContent(t *testing.T) {
	var p peers
	p.setAddr(1, "127.0.0.1:4001")
	p.setAddr(2, "127.0.0.1:4002")
	sum := strings.Repeat("ef", 32)
	now := time.Now()
	if a, _ := p.pick(1, wire.Version{Path: "/a/lib.so", Size: 9, Sum: sum}, now); a != "" {
		t.Fatalf("first holder of a content: source %q, want the master", a)
	}
	if a, _ := p.pick(2, wire.Version{Path: "/b/lib.so", Size: 9, Sum: sum}, now); a != "127.0.0.1:4001" {
		t.Errorf("the same content by another path: source %q, want node 1", a)
	}
	if a, _ := p.pick(2, wire.Version{Path: "/a/lib.so", Size: 9, Sum: strings.Repeat("01", 32)}, now); a != "" {
		t.Errorf("other content by the same path: source %q, want the master", a)
	}
}

// A node is sent to a source it fetched from before (it keeps that
// connection) when that source has the content too, and a small file's
// tree is wider than a large one's.
func TestPeersPreferKnownSource(t *testing.T) {
	var p peers
	for n := 1; n <= 3; n++ {
		p.setAddr(n, fmt.Sprintf("127.0.0.1:%d", 4000+n))
	}
	now := time.Now()
	a := wire.Version{Path: "/a", Size: 9, Sum: strings.Repeat("0a", 32)}
	b := wire.Version{Path: "/b", Size: 9, Sum: strings.Repeat("0b", 32)}
	p.pick(1, a, now) // from the master
	if src, _ := p.pick(3, a, now); src != "127.0.0.1:4001" {
		t.Fatalf("node 3's source of /a = %q, want node 1", src)
	}
	p.pick(2, b, now) // from the master
	p.pick(1, b, now) // from node 2
	// Nodes 2 and 1 have /b; node 3 knows node 1.
	if src, _ := p.pick(3, b, now); src != "127.0.0.1:4001" {
		t.Errorf("node 3's source of /b = %q, want node 1, which it fetched from before", src)
	}

	// A small file: one source serves smallFanout nodes.
	small := wire.Version{Path: "/small", Size: 4096, Sum: strings.Repeat("0c", 32)}
	var q peers
	for n := 0; n <= smallFanout; n++ {
		q.setAddr(n, fmt.Sprintf("127.0.0.1:%d", 5000+n))
	}
	q.pick(0, small, now)
	for n := 1; n <= smallFanout; n++ {
		if src, _ := q.pick(n, small, now); src != "127.0.0.1:5000" {
			t.Errorf("node %d's source of a small file = %q, want node 0 (it serves %d)", n, src, smallFanout)
		}
	}
}
